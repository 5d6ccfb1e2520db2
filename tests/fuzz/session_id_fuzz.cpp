// Fuzz target: session-id extraction (proxy/include/baton/proxy/session_id.hpp).
//
// Input: byte 0 picks one of a few session configurations (source order, names, JSON
// pointer, path regex, session.pattern); the rest is split on '\n' into the request
// target, the session header's value, two Cookie fields, and the body (all the rest).
// Invariants:
// - a found id is non-empty, matches session.pattern (checked by a hand-written predicate
//   of the same pattern) and fits the lease store's key alphabet (1..128 of
//   [A-Za-z0-9._:@=+/-], also written out here), so no byte the pattern or the store
//   forbids ever becomes a Redis key; is_valid_id agrees;
// - an invalid result carries a reason and no id; a missing one no id;
// - the result names the configured source it came from; a header id is the field value
//   as sent; a json id is the string or integer at the pointer;
// - extraction is deterministic;
// - percent_decode undoes a full %XX encoding of any bytes.
#include "baton/proxy/session_id.hpp"

#include "fuzz_check.hpp"

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using baton::core::SessionConfig;
using baton::core::SessionSource;
using baton::core::SessionSourceKind;
using baton::proxy::RequestHeader;
using baton::proxy::SessionIdExtractor;
using baton::proxy::SessionIdResult;
using baton::proxy::SessionIdStatus;
namespace http = boost::beast::http;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool in_length(std::string_view id, std::size_t min, std::size_t max) { return id.size() >= min && id.size() <= max; }

// ^[A-Za-z0-9._:-]{1,128}$
bool default_pattern(std::string_view id) {
  return in_length(id, 1, 128) && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '_' ||
                  c == ':' || c == '-';
         });
}

// ^[a-f0-9]{8,64}$
bool hex_pattern(std::string_view id) {
  return in_length(id, 8, 64) &&
         std::all_of(id.begin(), id.end(), [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); });
}

// [ -~]{1,64}, unanchored: session.pattern must match the whole id anyway.
bool printable_pattern(std::string_view id) {
  return in_length(id, 1, 64) && std::all_of(id.begin(), id.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

// ^(user|team)-[0-9]{1,12}$|^x$
bool team_pattern(std::string_view id) {
  if (id == "x") return true;
  if (!id.starts_with("user-") && !id.starts_with("team-")) return false;
  const auto digits = id.substr(5);
  return in_length(digits, 1, 12) && std::all_of(digits.begin(), digits.end(), is_digit);
}

// lease::is_valid_session_id, as documented: 1..128 characters of [A-Za-z0-9._:@=+/-].
bool store_key(std::string_view id) {
  return in_length(id, 1, 128) && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
                  std::string_view("._:@=+/-").find(c) != std::string_view::npos;
         });
}

struct Variant {
  std::vector<SessionSource> sources;
  std::string pattern;  // empty: the default
  std::function<bool(std::string_view)> pattern_holds;

  bool valid(std::string_view id) const { return pattern_holds(id) && store_key(id); }
};

std::vector<Variant> make_variants() {
  using K = SessionSourceKind;
  const std::vector<SessionSource> design{{K::header, "X-Session-Id"},
                                          {K::cookie, "sid"},
                                          {K::query, "sessionId"},
                                          {K::json, "/sessionId"},
                                          {K::path, "^/sessions/([^/]+)"}};
  std::vector<SessionSource> reversed(design.rbegin(), design.rend());
  return {
      {design, "", default_pattern},
      {reversed, "", default_pattern},
      {{{K::path, "/u/([^/]*)/x"}, {K::json, "/a/0/b"}, {K::header, "Session"}, {K::cookie, "SESSION"},
        {K::query, "sid"}},
       "^[a-f0-9]{8,64}$",
       hex_pattern},
      {{{K::query, "s id"}, {K::path, "^/s/(.+)$"}, {K::json, ""}, {K::cookie, "sid"}, {K::header, "X-Session-Id"}},
       "[ -~]{1,64}",
       printable_pattern},
      {{{K::cookie, "sid"}, {K::path, "/(?:a|b)/([^/]+)"}, {K::header, "X-Session-Id"}, {K::json, "/sessionId"},
        {K::query, "sessionId"}},
       "^(user|team)-[0-9]{1,12}$|^x$",
       team_pattern},
  };
}

struct Configured {
  Variant variant;
  SessionIdExtractor extractor;
};

std::vector<std::unique_ptr<Configured>> make_extractors() {
  std::vector<std::unique_ptr<Configured>> all;
  for (auto& variant : make_variants()) {
    SessionConfig config;
    config.sources = variant.sources;
    if (!variant.pattern.empty()) config.pattern = variant.pattern;
    all.push_back(std::make_unique<Configured>(Configured{std::move(variant), SessionIdExtractor(config)}));
  }
  return all;
}

std::string_view take_line(std::string_view& rest) {
  const auto end = rest.find('\n');
  const auto line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return line;
}

const SessionSource* configured(const Variant& variant, SessionSourceKind kind) {
  for (const auto& source : variant.sources) {
    if (source.kind == kind) return &source;
  }
  return nullptr;
}

// The value a json source should have found: the string, or the integer in decimal.
bool json_value_is(std::string_view pointer_text, std::string_view body, std::string_view id) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError()) return false;
  const rapidjson::Pointer pointer(pointer_text.data(), pointer_text.size());
  const rapidjson::Value* value = pointer.Get(document);
  if (value == nullptr) return false;
  if (value->IsString()) return std::string_view(value->GetString(), value->GetStringLength()) == id;
  if (value->IsInt64()) return std::to_string(value->GetInt64()) == id;
  if (value->IsUint64()) return std::to_string(value->GetUint64()) == id;
  return false;
}

void check_percent_round_trip(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string encoded;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    encoded += '%';
    encoded += hex[byte >> 4];
    encoded += hex[byte & 15];
  }
  std::string decoded;
  FUZZ_CHECK(baton::proxy::percent_decode(encoded, true, decoded));
  FUZZ_CHECK(decoded == bytes);
  std::string any;
  baton::proxy::percent_decode(bytes, bytes.size() % 2 == 0, any);  // any bytes: no crash
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto extractors = make_extractors();
  baton::fuzz::Input input(data, size);
  const auto control = input.byte();
  const Configured& chosen = *extractors[control % extractors.size()];
  const Variant& variant = chosen.variant;

  std::string_view rest = input.rest();
  const auto target = take_line(rest);
  const auto header_value = take_line(rest);
  const auto cookie = take_line(rest);
  const auto second_cookie = take_line(rest);
  const std::string_view body = rest;

  RequestHeader request;
  request.method(control & 0x80 ? http::verb::get : http::verb::post);
  request.target(target);
  request.version(11);
  const SessionSource* header_source = configured(variant, SessionSourceKind::header);
  if (!header_value.empty() || (control & 0x40)) request.insert(header_source->value, header_value);
  // What the request holds: Beast trims the whitespace around a value, as its parser does.
  const auto stored = request.find(header_source->value);
  const std::string_view sent_header = stored == request.end() ? std::string_view{} : stored->value();
  if (!cookie.empty()) request.insert(http::field::cookie, cookie);
  if (!second_cookie.empty()) request.insert(http::field::cookie, second_cookie);

  const SessionIdResult result = chosen.extractor.extract(request, body);
  const SessionIdResult again = chosen.extractor.extract(request, body);
  FUZZ_CHECK(result.status == again.status && result.id == again.id && result.source == again.source &&
             result.source_name == again.source_name && result.reason == again.reason);

  switch (result.status) {
    case SessionIdStatus::found: {
      FUZZ_CHECK(!result.id.empty());
      FUZZ_CHECK(variant.valid(result.id));
      FUZZ_CHECK(chosen.extractor.is_valid_id(result.id));
      FUZZ_CHECK(result.reason.empty());
      const SessionSource* source = configured(variant, result.source);
      FUZZ_CHECK(source != nullptr && result.source_name == source->value);
      if (result.source == SessionSourceKind::header) FUZZ_CHECK(result.id == sent_header);
      if (result.source == SessionSourceKind::json) FUZZ_CHECK(json_value_is(source->value, body, result.id));
      break;
    }
    case SessionIdStatus::invalid: {
      FUZZ_CHECK(result.id.empty());
      FUZZ_CHECK(!result.reason.empty());
      const SessionSource* source = configured(variant, result.source);
      FUZZ_CHECK(source != nullptr && result.source_name == source->value);
      break;
    }
    case SessionIdStatus::missing:
      FUZZ_CHECK(result.id.empty());
      break;
  }

  // The first source decides: with the header first and a non-empty value, nothing else
  // is consulted.
  if (variant.sources.front().kind == SessionSourceKind::header && !sent_header.empty()) {
    FUZZ_CHECK(result.status != SessionIdStatus::missing && result.source == SessionSourceKind::header);
    FUZZ_CHECK((result.status == SessionIdStatus::found) == variant.valid(sent_header));
  }

  FUZZ_CHECK(chosen.extractor.is_valid_id(target) == variant.valid(target));
  check_percent_round_trip(target.substr(0, 256));
  return 0;
}
