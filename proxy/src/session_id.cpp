#include "baton/proxy/session_id.hpp"

#include "baton/lease/lease_store.hpp"
#include "baton/proxy/routes.hpp"

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace baton::proxy {

using core::SessionSourceKind;

struct SessionIdExtractor::Source {
  SessionSourceKind kind;
  std::string name;
  std::regex path_regex;            // path only
  rapidjson::Pointer json_pointer;  // json only
};

namespace {

constexpr std::string_view pattern_mismatch = "does not match session.pattern";
constexpr std::string_view not_a_store_key = "is not 1 to 128 of A-Z a-z 0-9 . _ : @ = + / -";
constexpr std::string_view malformed_escape = "malformed percent-encoding";
constexpr std::string_view not_string_or_integer = "JSON value is not a string or an integer";

// ---- Text helpers ---------------------------------------------------------------------

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the escape at `text[at]` ('%' and two hex digits); -1 when malformed.
int escaped_byte(std::string_view text, std::size_t at) {
  if (at + 2 >= text.size()) return -1;
  const int high = hex_digit_value(text[at + 1]);
  const int low = hex_digit_value(text[at + 2]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

// Whether `encoded` percent-decodes (with '+' as a space) to `plain`, without decoding
// into a buffer: query keys are compared on the fast path.
bool decodes_to(std::string_view encoded, std::string_view plain) {
  std::size_t next = 0;
  for (std::size_t i = 0; i < encoded.size(); ++i, ++next) {
    int byte = static_cast<unsigned char>(encoded[i]);
    if (encoded[i] == '+') byte = ' ';
    if (encoded[i] == '%') {
      byte = escaped_byte(encoded, i);
      i += 2;
    }
    if (byte < 0 || next == plain.size() || static_cast<unsigned char>(plain[next]) != byte) return false;
  }
  return next == plain.size();
}

std::string_view trim_whitespace(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Removes and returns the text of `rest` up to the next `separator`.
std::string_view take_until(std::string_view& rest, char separator) {
  const auto end = rest.find(separator);
  const std::string_view piece = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return piece;
}

std::string_view unquoted(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') return value.substr(1, value.size() - 2);
  return value;
}

// ---- Where each source finds its raw value ---------------------------------------------

std::string_view header_value(const RequestHeader& request, std::string_view name) {
  const auto field = request.find(name);
  return field == request.end() ? std::string_view{} : field->value();
}

std::optional<std::string_view> cookie_in(std::string_view cookie_header, std::string_view name) {
  while (!cookie_header.empty()) {
    const std::string_view pair = take_until(cookie_header, ';');
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (trim_whitespace(pair.substr(0, equals)) == name) return unquoted(trim_whitespace(pair.substr(equals + 1)));
  }
  return std::nullopt;
}

std::string_view cookie_value(const RequestHeader& request, std::string_view name) {
  const auto [first, last] = request.equal_range(http::field::cookie);
  for (auto field = first; field != last; ++field) {
    if (const auto value = cookie_in(field->value(), name)) return *value;
  }
  return {};
}

// The still-encoded value of the first pair whose key decodes to `key`.
std::string_view query_value(std::string_view target, std::string_view key) {
  const auto question_mark = target.find('?');
  if (question_mark == std::string_view::npos) return {};
  std::string_view query = target.substr(question_mark + 1);
  while (!query.empty()) {
    const std::string_view pair = take_until(query, '&');
    const auto equals = pair.find('=');
    if (decodes_to(pair.substr(0, equals), key))
      return equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
  }
  return {};
}

// The first capture group of the regex, searched in the path; still encoded.
std::string_view path_capture(const std::regex& regex, std::string_view target) {
  const std::string_view path = request_path(target);
  std::match_results<std::string_view::const_iterator> match;
  if (!std::regex_match(path.begin(), path.end(), match, regex) || !match[1].matched) return {};
  return {match[1].first, match[1].second};
}

// ---- Compiling the configuration -------------------------------------------------------

// A search as a whole-string match: libstdc++'s polynomial mode restarts a search at
// every position, which is quadratic in the path; the lazy prefix keeps it linear and,
// being non-capturing, keeps the user's first group the first.
std::regex compile_path_search(const std::string& pattern) {
  std::regex regex = compile_request_regex("[\\s\\S]*?(?:" + pattern + ")[\\s\\S]*");
  if (compile_request_regex(pattern).mark_count() == 0)
    throw std::invalid_argument("session path regex '" + pattern + "' has no capture group for the id");
  return regex;
}

rapidjson::Pointer compile_json_pointer(const std::string& pointer) {
  rapidjson::Pointer compiled(pointer.data(), pointer.size());
  if (!compiled.IsValid()) throw std::invalid_argument("invalid JSON pointer '" + pointer + "'");
  return compiled;
}

// The default session.pattern, checked by hand: std::regex allocates on every match and
// costs about a microsecond, on every leased request.
const std::string default_pattern = core::SessionConfig{}.pattern;

bool matches_default_pattern(std::string_view id) {
  constexpr std::size_t max_length = 128;
  return !id.empty() && id.size() <= max_length && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == ':' || c == '-';
         });
}

}  // namespace

// ---- Percent-decoding ------------------------------------------------------------------

bool percent_decode(std::string_view encoded, bool plus_as_space, std::string& out) {
  out.reserve(out.size() + encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '%') {
      const int byte = escaped_byte(encoded, i);
      if (byte < 0) return false;
      out.push_back(static_cast<char>(byte));
      i += 2;
    } else {
      out.push_back(plus_as_space && c == '+' ? ' ' : c);
    }
  }
  return true;
}

// ---- SessionIdExtractor ----------------------------------------------------------------

SessionIdExtractor::SessionIdExtractor(const core::SessionConfig& config)
    : pattern_(compile_request_regex(config.pattern)),
      default_pattern_(config.pattern == default_pattern),
      max_json_body_(config.max_json_body) {
  sources_.reserve(config.sources.size());
  for (const core::SessionSource& configured : config.sources) {
    Source& source = sources_.emplace_back(Source{configured.kind, configured.value, {}, {}});
    if (source.kind == SessionSourceKind::path) source.path_regex = compile_path_search(source.name);
    if (source.kind == SessionSourceKind::json) {
      source.json_pointer = compile_json_pointer(source.name);
      needs_body_ = true;
    }
  }
}

SessionIdExtractor::~SessionIdExtractor() = default;
SessionIdExtractor::SessionIdExtractor(SessionIdExtractor&&) noexcept = default;
SessionIdExtractor& SessionIdExtractor::operator=(SessionIdExtractor&&) noexcept = default;

bool SessionIdExtractor::is_valid_id(std::string_view id) const { return refusal(id).empty(); }

std::string_view SessionIdExtractor::refusal(std::string_view id) const {
  if (default_pattern_) return matches_default_pattern(id) ? std::string_view{} : pattern_mismatch;
  // A pattern wider than the store's alphabet must still keep globs, braces (Redis Cluster
  // hash tags) and control characters out of keys. Checked first, it also keeps long
  // values away from the regex.
  if (!lease::is_valid_session_id(id)) return not_a_store_key;
  return std::regex_match(id.begin(), id.end(), pattern_) ? std::string_view{} : pattern_mismatch;
}

SessionIdResult SessionIdExtractor::extract(const RequestHeader& request, std::string_view body) const {
  for (const Source& source : sources_) {
    SessionIdResult result = from_source(source, request, body);
    if (result.status != SessionIdStatus::missing) return result;
  }
  return {};
}

SessionIdResult SessionIdExtractor::from_source(const Source& source, const RequestHeader& request,
                                                std::string_view body) const {
  switch (source.kind) {
    case SessionSourceKind::header:
      return checked(source, header_value(request, source.name));
    case SessionSourceKind::cookie:
      return checked(source, cookie_value(request, source.name));
    case SessionSourceKind::query:
      return decoded(source, query_value(request.target(), source.name), /*plus_as_space=*/true);
    case SessionSourceKind::path:
      return decoded(source, path_capture(source.path_regex, request.target()), /*plus_as_space=*/false);
    case SessionSourceKind::json:
      return from_json(source, body);
  }
  return {};
}

SessionIdResult SessionIdExtractor::checked(const Source& source, std::string_view id) const {
  if (id.empty()) return {};
  if (const auto reason = refusal(id); !reason.empty()) return invalid(source, reason);
  return found(source, std::string(id));
}

SessionIdResult SessionIdExtractor::decoded(const Source& source, std::string_view encoded,
                                            bool plus_as_space) const {
  if (encoded.empty()) return {};
  std::string id;
  if (!percent_decode(encoded, plus_as_space, id)) return invalid(source, malformed_escape);
  if (const auto reason = refusal(id); !reason.empty()) return invalid(source, reason);
  return found(source, std::move(id));
}

SessionIdResult SessionIdExtractor::from_json(const Source& source, std::string_view body) const {
  if (body.empty()) return {};
  // Iterative parsing: a deeply nested body must not recurse on the event loop's stack.
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError()) return {};
  const rapidjson::Value* value = source.json_pointer.Get(document);
  if (value == nullptr || value->IsNull()) return {};
  if (value->IsString()) return checked(source, {value->GetString(), value->GetStringLength()});
  if (value->IsInt64()) return checked(source, std::to_string(value->GetInt64()));
  if (value->IsUint64()) return checked(source, std::to_string(value->GetUint64()));
  return invalid(source, not_string_or_integer);
}

SessionIdResult SessionIdExtractor::found(const Source& source, std::string id) {
  return {SessionIdStatus::found, std::move(id), source.kind, source.name, {}};
}

SessionIdResult SessionIdExtractor::invalid(const Source& source, std::string_view reason) {
  return {SessionIdStatus::invalid, {}, source.kind, source.name, reason};
}

}  // namespace baton::proxy
