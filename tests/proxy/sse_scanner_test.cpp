#include "baton/proxy/sse_scanner.hpp"
#include "support/sse_pieces.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace baton;
using namespace baton::proxy;
using namespace std::string_literals;
using namespace std::string_view_literals;
using Kind = core::SseDone::Kind;

namespace {

const core::SseDone event_done{Kind::event, "done", ""};
const core::SseDone data_done{Kind::data, "[DONE]", ""};
const core::SseDone json_done{Kind::json, "done", "/type"};

using Outcome = test::SseOutcome;

// Feeds `stream` cut at `cuts` (ascending) and collects what the scanner said.
Outcome scan(const core::SseDone& done, std::string_view stream, const std::vector<std::size_t>& cuts,
             std::size_t max_event_bytes = 64 * 1024) {
  auto outcome = test::scan_in_pieces(done, max_event_bytes, stream, cuts);
  REQUIRE_MESSAGE(outcome.broken.empty(), outcome.broken);
  return outcome;
}

Outcome scan_whole(const core::SseDone& done, std::string_view stream, std::size_t max_event_bytes = 64 * 1024) {
  return scan(done, stream, {}, max_event_bytes);
}

void check_same_outcome(const core::SseDone& done, std::string_view stream, const std::vector<std::size_t>& cuts,
                        const Outcome& whole) {
  const auto outcome = scan(done, stream, cuts);
  CHECK(outcome.done_end == test::done_end_with_cuts(stream, whole.done_end, cuts));
  CHECK(outcome.events == whole.events);
  CHECK(outcome.done_seen == whole.done_seen);
}

// The outcome of the whole stream, then the same at every cut into two pieces, byte by
// byte, and byte by byte with empty pieces between.
void check_every_split(const core::SseDone& done, std::string_view stream, std::optional<std::size_t> done_end,
                       std::uint64_t events) {
  const auto whole = scan_whole(done, stream);
  REQUIRE(whole.done_end == done_end);
  REQUIRE(whole.events == events);
  REQUIRE(whole.done_seen == done_end.has_value());

  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    check_same_outcome(done, stream, {cut}, whole);
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t cut = 1; cut < stream.size(); ++cut) every_byte.push_back(cut);
  check_same_outcome(done, stream, every_byte, whole);
  std::vector<std::size_t> with_empty_pieces;
  for (const auto cut : every_byte) with_empty_pieces.insert(with_empty_pieces.end(), {cut, cut});
  check_same_outcome(done, stream, with_empty_pieces, whole);
}

// A sample stream written with "\n" line ends and markers "<E>", "<D>", "<J>" where the
// event, data and json matchers should find the end of the done event.
struct Sample {
  std::string bytes;
  std::map<char, std::size_t> marks;
};

enum class LineEnds { lf, crlf, cr, mixed };

Sample render(std::string_view text, LineEnds line_ends, std::string_view prefix = "") {
  // The mixed rotation never puts a lone LF right after a lone CR, which would read as
  // one CRLF.
  constexpr std::array<std::string_view, 3> mixed{"\r\n", "\n", "\r"};
  Sample sample{std::string(prefix), {}};
  std::size_t line = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<' && i + 2 < text.size() && text[i + 2] == '>') {
      sample.marks[text[i + 1]] = sample.bytes.size();
      i += 2;
    } else if (text[i] == '\n') {
      switch (line_ends) {
        case LineEnds::lf: sample.bytes += "\n"; break;
        case LineEnds::crlf: sample.bytes += "\r\n"; break;
        case LineEnds::cr: sample.bytes += "\r"; break;
        case LineEnds::mixed: sample.bytes += mixed[line++ % mixed.size()]; break;
      }
    } else {
      sample.bytes += text[i];
    }
  }
  return sample;
}

std::optional<std::size_t> mark(const Sample& sample, char name) {
  const auto found = sample.marks.find(name);
  return found == sample.marks.end() ? std::nullopt : std::optional<std::size_t>(found->second);
}

constexpr std::array all_line_ends{LineEnds::lf, LineEnds::crlf, LineEnds::cr, LineEnds::mixed};

std::string name_of(LineEnds line_ends) {
  switch (line_ends) {
    case LineEnds::lf: return "LF";
    case LineEnds::crlf: return "CRLF";
    case LineEnds::cr: return "CR";
    case LineEnds::mixed: return "mixed";
  }
  return "?";
}

// Every matcher, every line end, every split; with and without a BOM.
void check_sample(std::string_view text, std::uint64_t events) {
  for (const auto line_ends : all_line_ends) {
    for (const auto prefix : {""sv, "\xEF\xBB\xBF"sv}) {
      CAPTURE(name_of(line_ends));
      CAPTURE(prefix.size());
      const auto sample = render(text, line_ends, prefix);
      CAPTURE(sample.bytes);
      check_every_split(event_done, sample.bytes, mark(sample, 'E'), events);
      check_every_split(data_done, sample.bytes, mark(sample, 'D'), events);
      check_every_split(json_done, sample.bytes, mark(sample, 'J'), events);
    }
  }
}

// Whether `done` is found in a stream with LF line ends, for the short negative cases.
bool finds_done(const core::SseDone& done, std::string_view stream, std::size_t max_event_bytes = 64 * 1024) {
  const auto outcome = scan_whole(done, stream, max_event_bytes);
  CHECK(outcome.done_seen == outcome.done_end.has_value());
  return outcome.done_seen;
}

}  // namespace

TEST_SUITE("sse scanner") {
  TEST_CASE("an engine stream: tokens, done, then the stream goes on") {
    check_sample(": connected\n"
                 "retry: 3000\n"
                 "\n"
                 "event: token\n"
                 "id: 1\n"
                 "data: {\"type\":\"token\",\"text\":\"Hel\"}\n"
                 "\n"
                 ": keep-alive\n"
                 "data: {\"type\":\"token\",\"text\":\"lo\"}\n"
                 "id: 2\n"
                 "\n"
                 "event: done\n"
                 "data: {\"type\":\"done\",\"tokens\":2}\n"
                 "\n<E><J>"
                 "data: [DONE]\n"
                 "\n<D>"
                 ": the engine keeps the stream open\n"
                 "event: done\n"
                 "data: {\"type\":\"done\"}\n"
                 "\n"
                 "data: [DONE]\n"
                 "\n",
                 6);
  }

  TEST_CASE("multi-line data, fields without a space or a colon, a replaced event name") {
    check_sample("event: done\n"
                 "event: token\n"
                 "data:{\"type\":\n"
                 "data: \"token\"}\n"
                 "\n"
                 "event:done\n"
                 "data: {\"type\":\n"
                 "data:  \"done\"}\n"
                 "\n<E><J>"
                 "data\n"
                 "data:[DONE]\n"
                 "\n"
                 "data:[DONE]\n"
                 "\n<D>",
                 4);
  }

  TEST_CASE("the done event is the first bytes of the stream") {
    check_sample("event: done\ndata: x\n\n<E>data: [DONE]\n\n<D>data: {\"type\": \"done\"}\n\n<J>", 3);
  }

  TEST_CASE("a stream without its done event") {
    check_sample(": only tokens\nevent: token\ndata: {\"type\":\"token\"}\n\ndata: x\n\n", 2);
  }

  TEST_CASE("the data matcher compares the whole data, joined lines included") {
    const core::SseDone two_lines{Kind::data, "a\nb\n", ""};
    for (const auto line_ends : all_line_ends) {
      CAPTURE(name_of(line_ends));
      const auto sample = render("data: a\ndata: a\n\ndata: a\ndata:b\ndata\n\n<D>data: c\n\n", line_ends);
      check_every_split(two_lines, sample.bytes, mark(sample, 'D'), 3);
    }
  }

  TEST_CASE("a CR that ends the done event answers at once, and its LF is not a second blank line") {
    SseScanner scanner(data_done);
    const auto first = "data: [DONE]\r\n\r"sv;
    CHECK(scanner.feed(first) == first.size());
    CHECK(scanner.done_seen());
    CHECK(scanner.feed("\n") == std::nullopt);
    CHECK(scanner.feed("data: more\r\n\r\n") == std::nullopt);
    CHECK(scanner.events() == 2);
  }

  TEST_CASE("CR-only streams answer on the CR") {
    SseScanner scanner(event_done);
    CHECK(scanner.feed("event: done\r") == std::nullopt);
    CHECK(scanner.feed("\r") == 1u);
    CHECK(scanner.feed("data: x\r\r") == std::nullopt);
    CHECK(scanner.events() == 2);
  }

  TEST_CASE("the done event is reported once, at its first occurrence") {
    SseScanner scanner(data_done);
    CHECK(scanner.feed("data: [DONE]\n\n") == 14u);
    CHECK(scanner.feed("data: [DONE]\n\n") == std::nullopt);
    CHECK(scanner.done_seen());
    CHECK(scanner.events() == 2);
  }

  TEST_CASE("only one leading BOM is skipped, and only a whole one") {
    CHECK(finds_done(data_done, "\xEF\xBB\xBF" "data: [DONE]\n\n"));
    CHECK_FALSE(finds_done(data_done, "\xEF\xBB\xBF\xEF\xBB\xBF" "data: [DONE]\n\n"));
    CHECK_FALSE(finds_done(data_done, "\xEF\xBB" "data: [DONE]\n\n"));
    CHECK_FALSE(finds_done(data_done, "\xEF" "data: [DONE]\n\n"));
    CHECK(finds_done(data_done, "\xEF\xBB\n" "data: [DONE]\n\n"));  // a line of its own
    CHECK_FALSE(finds_done(data_done, "\n\xEF\xBB\xBF" "data: [DONE]\n\n"));
  }

  TEST_CASE("a held-back partial BOM that is content is scanned as content") {
    const auto stream = "\xEF\xBB\n" "data: [DONE]\n\n"sv;
    check_every_split(data_done, stream, stream.size(), 1);
  }

  TEST_CASE("events without data are not dispatched, except a done event for the event matcher") {
    const auto no_data = scan_whole(event_done, "id: 1\n\nevent: token\n\nretry: 10\n\n: c\n\n\n\n");
    CHECK(no_data.events == 0);
    CHECK_FALSE(no_data.done_seen);

    const auto done_without_data = scan_whole(event_done, "event: token\n\nevent: done\n\n");
    CHECK(done_without_data.done_end == 27u);
    CHECK(done_without_data.events == 1);

    CHECK(scan_whole(data_done, "data\n\ndata:\n\n").events == 2);  // empty data is data
    CHECK_FALSE(finds_done(data_done, "event: done\n\n"));
  }

  TEST_CASE("the event matcher: the type, exactly") {
    CHECK(finds_done(event_done, "event: done\ndata: {}\n\n"));
    CHECK(finds_done(event_done, "data: {}\nevent: done\n\n"));
    CHECK(finds_done(event_done, "event:done\ndata: {}\n\n"));
    CHECK_FALSE(finds_done(event_done, "data: event: done\n\n"));
    CHECK_FALSE(finds_done(event_done, ": event: done\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event: done \ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event:  done\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event: Done\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event: don\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event: done!\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "Event: done\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "events: done\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event: done\nevent: token\ndata: x\n\n"));
    CHECK_FALSE(finds_done(event_done, "event: done\n: then a blank line never comes\ndata: x\n"));
    CHECK_FALSE(finds_done(event_done, "event: done\ndata: x"));
    CHECK_FALSE(finds_done(event_done, "event: done"));
  }

  TEST_CASE("an event named \"message\" is also one without a name") {
    const core::SseDone message{Kind::event, "message", ""};
    CHECK(finds_done(message, "data: x\n\n"));
    CHECK(finds_done(message, "event:\ndata: x\n\n"));
    CHECK_FALSE(finds_done(message, "id: 1\n\n"));
  }

  TEST_CASE("the data matcher: the whole data, exactly") {
    CHECK(finds_done(data_done, "data: [DONE]\n\n"));
    CHECK(finds_done(data_done, "event: whatever\ndata: [DONE]\nid: 9\n\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DONE] \n\n"));
    CHECK_FALSE(finds_done(data_done, "data:  [DONE]\n\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DONE\n\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DONE]]\n\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DO\ndata: NE]\n\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DONE]\ndata\n\n"));
    CHECK_FALSE(finds_done(data_done, ": data: [DONE]\n\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DONE]\n"));
    CHECK_FALSE(finds_done(data_done, "data: [DONE]"));
  }

  TEST_CASE("the json matcher: strings, numbers and booleans by their JSON text") {
    CHECK(finds_done(json_done, "data: {\"type\":\"done\"}\n\n"));
    CHECK(finds_done(json_done, "data:  { \"type\" : \"done\" , \"n\": [1, {}] }  \n\n"));
    CHECK(finds_done(json_done, "data: {\"type\":\"\\u0064one\"}\n\n"));
    CHECK_FALSE(finds_done(json_done, "data: {\"type\":\"done \"}\n\n"));
    CHECK_FALSE(finds_done(json_done, "data: {\"kind\":\"done\"}\n\n"));          // missing field
    CHECK_FALSE(finds_done(json_done, "data: {\"type\":{\"done\":1}}\n\n"));      // not a scalar
    CHECK_FALSE(finds_done(json_done, "data: [\"done\"]\n\n"));
    CHECK_FALSE(finds_done(json_done, "data: {\"type\":\"done\"\n\n"));           // invalid JSON
    CHECK_FALSE(finds_done(json_done, "data: {\"type\":\"done\"} x\n\n"));
    CHECK_FALSE(finds_done(json_done, "data: {\"type\":\"done\"}\ndata: }\n\n"));
    CHECK_FALSE(finds_done(json_done, "data:\n\n"));
    CHECK_FALSE(finds_done(json_done, "data: [DONE]\n\n"));
    CHECK_FALSE(finds_done(json_done, "event: done\n\n"));

    const core::SseDone finish{Kind::json, "stop", "/choices/0/finish_reason"};
    CHECK(finds_done(finish, "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n"));
    CHECK_FALSE(finds_done(finish, "data: {\"choices\":[{\"finish_reason\":null}]}\n\n"));
    CHECK_FALSE(finds_done(finish, "data: {\"choices\":[]}\n\n"));

    const core::SseDone code{Kind::json, "1.50", "/code"};
    CHECK(finds_done(code, "data: {\"code\": 1.50}\n\n"));
    CHECK(finds_done(code, "data: {\"code\": \"1.50\"}\n\n"));
    CHECK_FALSE(finds_done(code, "data: {\"code\": 1.5}\n\n"));

    const core::SseDone final_flag{Kind::json, "true", "/final"};
    CHECK(finds_done(final_flag, "data: {\"final\": true}\n\n"));
    CHECK_FALSE(finds_done(final_flag, "data: {\"final\": false}\n\n"));

    const core::SseDone whole_data{Kind::json, "done", ""};
    CHECK(finds_done(whole_data, "data: \"done\"\n\n"));

    const core::SseDone escaped{Kind::json, "x", "/a~1b/c~0d"};
    CHECK(finds_done(escaped, "data: {\"a/b\": {\"c~d\": \"x\"}}\n\n"));

    const core::SseDone invalid_pointer{Kind::json, "done", "type"};
    CHECK_FALSE(finds_done(invalid_pointer, "data: {\"type\":\"done\"}\n\n"));
  }

  TEST_CASE("json data larger than the parse buffers still matches") {
    const std::string padding(20000, 'x');
    CHECK(finds_done(json_done, "data: {\"pad\":\"" + padding + "\",\"type\":\"done\"}\n\n"));
    std::string many = "data: [";
    for (int i = 0; i < 2000; ++i) many += "{\"n\":" + std::to_string(i) + "},";
    many += "{}]\n\n";
    const core::SseDone last{Kind::json, "1999", "/1999/n"};
    CHECK(finds_done(last, many));
  }

  TEST_CASE("an over-long event is counted, never matched, and the next one still is") {
    const auto done_event = "data: {\"type\":\"done\"}\n\n"s;
    const std::size_t max_event_bytes = done_event.size();
    const auto long_event = "data: {\"type\":\"done\",\"pad\":\"" + std::string(2 * max_event_bytes, 'x') + "\"}\n\n";
    CHECK_FALSE(finds_done(json_done, long_event, max_event_bytes));
    CHECK_FALSE(finds_done(json_done, "data: {\"type\":\ndata: \"done\", \"pad\":\"" + std::string(max_event_bytes, 'x') + "\"}\n\n",
                           max_event_bytes));

    const auto stream = long_event + long_event + done_event;
    const auto outcome = scan_whole(json_done, stream, max_event_bytes);
    CHECK(outcome.done_end == stream.size());
    CHECK(outcome.events == 3);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      CAPTURE(cut);
      const auto split = scan(json_done, stream, {cut}, max_event_bytes);
      CHECK(split.done_end == stream.size());
      CHECK(split.events == 3);
    }
    // The limit is on the data, exactly: an event of max_event_bytes of data matches.
    const auto exact = "{\"type\":\"done\"}"s;
    CHECK(finds_done(json_done, "data: " + exact + "\n\n", exact.size()));
    CHECK_FALSE(finds_done(json_done, "data: " + exact + " \n\n", exact.size()));
  }

  TEST_CASE("the event and data matchers keep nothing, so long events do not matter to them") {
    const std::string long_data(200000, 'x');
    CHECK(finds_done(event_done, "event: done\ndata: " + long_data + "\n\n", 16));
    CHECK_FALSE(finds_done(data_done, "data: [DONE]" + long_data + "\n\n", 16));
    CHECK(finds_done(data_done, "data: " + long_data + "\n\ndata: [DONE]\n\n", 16));
  }

  TEST_CASE("a matcher of kind none never matches, and events are still counted") {
    const core::SseDone none{};
    const auto outcome = scan_whole(none, "event: done\ndata: [DONE]\n\ndata: x\n\n");
    CHECK_FALSE(outcome.done_seen);
    CHECK(outcome.events == 2);
  }

  TEST_CASE("unknown fields and id and retry do not disturb the event") {
    CHECK(finds_done(data_done, "id: [DONE]\nretry: 5\nfoo: bar\nverylongfieldname: data\ndata: [DONE]\n\n"));
    CHECK(finds_done(event_done, "id\nretry\nevent: done\ndat: x\ndata: y\n\n"));
  }
}
