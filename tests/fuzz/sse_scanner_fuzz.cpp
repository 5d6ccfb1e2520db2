// Fuzz target: the SSE scanner (proxy/include/baton/proxy/sse_scanner.hpp).
//
// Input: byte 0 picks the done matcher (kind and value) and max_event_bytes, byte 1
// seeds the cut points; the rest is the event stream. The stream is scanned whole, in
// pieces cut where the seed says, and byte by byte. Invariants:
// - every offset returned lies within its piece, and "done" is reported at most once;
// - the outcome (where done ends, events counted, done_seen) is the same whatever the
//   cuts, except that a cut between the CR and LF of the blank line that ends the done
//   event reports the end of the CR (the scanner never waits for an LF that may not come);
// - the outcome equals that of a simple whole-stream reading of the WHATWG rules
//   written here, independently of the scanner's streaming state machine.
#include "baton/proxy/sse_scanner.hpp"

#include "fuzz_check.hpp"
#include "support/sse_pieces.hpp"

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using baton::core::SseDone;
using Kind = SseDone::Kind;
using namespace std::string_view_literals;

using Outcome = baton::test::SseOutcome;

const std::array<SseDone, 8> event_matchers{{
    {Kind::event, "done", ""},
    {Kind::event, "message", ""},  // also every event without a name
    {Kind::event, "", ""},         // never matches: an empty name is "message"
    {Kind::event, "d", ""},
    {Kind::event, "done done", ""},
    {Kind::event, "\xC3\xA9v\xC3\xA9nement", ""},
    {Kind::event, "data", ""},
    {Kind::event, ":", ""},
}};

const std::array<SseDone, 8> data_matchers{{
    {Kind::data, "[DONE]", ""},
    {Kind::data, "", ""},
    {Kind::data, "a\nb", ""},  // two data lines
    {Kind::data, " x", ""},    // only the first space after the colon goes
    {Kind::data, "\n", ""},    // two empty data lines
    {Kind::data, "done", ""},
    {Kind::data, "{\"type\":\"done\"}", ""},
    {Kind::data, "\xEF\xBB\xBF", ""},
}};

const std::array<SseDone, 8> json_matchers{{
    {Kind::json, "done", "/type"},
    {Kind::json, "done", ""},      // the whole data is the JSON string "done"
    {Kind::json, "x", "/a/0"},
    {Kind::json, "1.0", "/n"},     // numbers compare as their text
    {Kind::json, "true", "/b"},
    {Kind::json, "done", "type"},  // not a pointer: never matches
    {Kind::json, "", "/type"},
    {Kind::json, "done", "/~1a~0b"},
}};

constexpr std::array<std::size_t, 4> max_event_sizes{64 * 1024, 32, 8, 1};

SseDone matcher_for(std::uint8_t control) {
  const auto variant = (control >> 2) & 7;
  switch (control & 3) {
    case 0: return {Kind::none, "", ""};
    case 1: return event_matchers[variant];
    case 2: return data_matchers[variant];
    default: return json_matchers[variant];
  }
}

bool json_matches(const SseDone& done, std::string_view data, std::size_t max_event_bytes) {
  const rapidjson::Pointer pointer(done.json_pointer.data(), done.json_pointer.size());
  if (!pointer.IsValid() || data.empty() || data.size() > max_event_bytes) return false;
  rapidjson::Document document;
  document.Parse<rapidjson::kParseNumbersAsStringsFlag>(data.data(), data.size());
  if (document.HasParseError()) return false;
  const rapidjson::Value* value = pointer.Get(document);
  if (value == nullptr) return false;
  if (value->IsString()) return std::string_view(value->GetString(), value->GetStringLength()) == done.value;
  if (value->IsBool()) return (value->GetBool() ? "true"sv : "false"sv) == done.value;
  return false;
}

// The WHATWG event stream interpretation, read from the whole stream at once, with the
// scanner's documented deviation (a done event without data lines counts for the event
// matcher).
Outcome reference(const SseDone& done, std::string_view stream, std::size_t max_event_bytes) {
  Outcome outcome;
  std::size_t pos = stream.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  std::string event_name;
  std::string data;
  bool has_event = false;
  bool has_data = false;
  while (pos < stream.size()) {
    const auto line_end = stream.find_first_of("\r\n", pos);
    if (line_end == std::string_view::npos) break;  // an unfinished line decides nothing
    const auto line = stream.substr(pos, line_end - pos);
    pos = line_end + (stream.substr(line_end, 2) == "\r\n" ? 2 : 1);
    if (line.empty()) {
      const std::string_view type = has_event && !event_name.empty() ? std::string_view(event_name) : "message"sv;
      const bool named_done = done.kind == Kind::event && type == done.value;
      if (has_data || (has_event && named_done && !outcome.done_seen)) {
        ++outcome.events;
        bool matches = false;
        switch (done.kind) {
          case Kind::none: break;
          case Kind::event: matches = named_done; break;
          case Kind::data: matches = data == done.value; break;
          case Kind::json: matches = json_matches(done, data, max_event_bytes); break;
        }
        if (matches && !outcome.done_seen) {
          outcome.done_seen = true;
          outcome.done_end = pos;
        }
      }
      event_name.clear();
      data.clear();
      has_event = has_data = false;
      continue;
    }
    if (line.front() == ':') continue;
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? ""sv : line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    if (name == "event") {
      event_name.assign(value);
      has_event = true;
    } else if (name == "data") {
      if (has_data) data += '\n';
      data.append(value);
      has_data = true;
    }
  }
  return outcome;
}

// The stream fed in pieces cut at `cuts`: the scanner kept its contract, and its
// outcome is the whole stream's (`expected`).
void check_cut(const Outcome& expected, const SseDone& done, std::size_t max_event_bytes, std::string_view stream,
               const std::vector<std::size_t>& cuts) {
  const Outcome actual = baton::test::scan_in_pieces(done, max_event_bytes, stream, cuts);
  FUZZ_CHECK(actual.broken.empty());
  FUZZ_CHECK(actual.done_end == baton::test::done_end_with_cuts(stream, expected.done_end, cuts));
  FUZZ_CHECK(actual.events == expected.events);
  FUZZ_CHECK(actual.done_seen == expected.done_seen);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  baton::fuzz::Input input(data, size);
  const auto control = input.byte();
  const auto seed = input.byte();
  const std::string_view stream = input.rest();
  const SseDone done = matcher_for(control);
  const std::size_t max_event_bytes = max_event_sizes[(control >> 5) & 3];

  const Outcome expected = reference(done, stream, max_event_bytes);
  FUZZ_CHECK(expected.done_seen == expected.done_end.has_value());

  check_cut(expected, done, max_event_bytes, stream, {});

  std::vector<std::size_t> cuts;
  baton::fuzz::Cuts random(seed);
  for (std::size_t at = 0; at < stream.size();) {
    at += random.piece_length(stream.size() - at);
    cuts.push_back(at);
  }
  check_cut(expected, done, max_event_bytes, stream, cuts);

  if (stream.size() <= 4096) {
    std::vector<std::size_t> every_byte;
    for (std::size_t at = 1; at < stream.size(); ++at) every_byte.push_back(at);
    check_cut(expected, done, max_event_bytes, stream, every_byte);
  }
  return 0;
}
