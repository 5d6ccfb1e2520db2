// Finds the event that ends an engine's turn in a Server-Sent Events stream, so that the
// lease can be released while the stream goes on being relayed (DESIGN.md promise 4).
//
// Sans-I/O: the response body goes in as it arrives, in pieces cut anywhere; where the
// done event ends comes out. Lines and events follow the WHATWG HTML "event stream
// interpretation": LF, CRLF or CR line ends, one leading UTF-8 BOM skipped, ':' comments,
// "field: value" with one optional space, data lines joined with "\n", an event
// dispatched on a blank line and only when it has data.
//
// One deliberate deviation: for the event matcher, a block that names the done event is
// accepted without data lines ("event: done\n\n" is not dispatched by a browser, but the
// engine clearly means it).
//
// Memory is bounded: the event and data matchers compare bytes as they arrive and keep
// none of them; the json matcher keeps the current event's data, at most max_event_bytes
// (a longer event is counted but never matched).
#pragma once

#include "baton/core/config.hpp"

#include <rapidjson/fwd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::proxy {

class SseScanner {
public:
  explicit SseScanner(core::SseDone done, std::size_t max_event_bytes = 64 * 1024);
  ~SseScanner();
  SseScanner(SseScanner&&) noexcept;
  SseScanner& operator=(SseScanner&&) noexcept;

  // Scans the next piece of the stream. The first time the done event is complete,
  // returns the offset in `piece` just after the line end of the blank line that ends
  // it; nullopt otherwise (also for every later piece). A CR ends a line at once, so
  // when a piece ends between the CR and LF of that blank line, the offset is the end
  // of the piece and the LF is the first byte of the next one: the decision never waits
  // for bytes the engine may not send.
  std::optional<std::size_t> feed(std::string_view piece);

  bool done_seen() const noexcept { return done_seen_; }

  // Events dispatched so far (blocks with data lines, and a done event without them),
  // counting those after the done event.
  std::uint64_t events() const noexcept { return events_; }

private:
  // Whether bytes arriving in pieces add up to exactly the expected text, without
  // keeping them.
  class StreamingEquals {
  public:
    explicit StreamingEquals(std::string expected) : expected_(std::move(expected)) {}
    void feed(std::string_view bytes) noexcept;
    void restart() noexcept;
    bool equals() const noexcept { return matching_ && seen_ == expected_.size(); }
    bool empty() const noexcept { return seen_ == 0; }
    const std::string& expected() const noexcept { return expected_; }

  private:
    std::string expected_;
    std::size_t seen_ = 0;
    bool matching_ = true;
  };

  enum class Line { start, name, value_start, value, comment };
  enum class Field { event, data, ignored };

  std::size_t skip_byte_order_mark(std::string_view piece);
  std::size_t skip_line_end(std::string_view piece, std::size_t line_end);
  void scan_line_content(std::string_view content);
  std::string_view scan_field_name(std::string_view content);
  bool end_line();
  void begin_field(Field field);
  void append_value(std::string_view bytes);
  void append_data(std::string_view bytes);
  void keep_json_data(std::string_view bytes);
  bool dispatch_event();
  bool is_done_event_without_data() const;
  bool matches_done() const;
  bool event_type_matches() const;
  bool json_data_matches() const;
  void reset_event();
  Field field_named() const noexcept;

  core::SseDone::Kind kind_;
  std::size_t max_event_bytes_;
  StreamingEquals done_value_;  // fed the event name (event) or the data (data)
  std::unique_ptr<const rapidjson::Pointer> json_pointer_;  // json only

  // Where the stream is.
  std::uint8_t bom_bytes_seen_ = 0;
  bool bom_checked_ = false;
  bool cr_ended_line_ = false;  // a following LF belongs to the same line end
  Line line_ = Line::start;
  Field field_ = Field::ignored;
  char name_[5] = {};  // long enough for "event" and "data"; longer names are ignored
  std::uint8_t name_length_ = 0;
  bool name_too_long_ = false;

  // The event being read.
  bool has_data_lines_ = false;
  bool has_event_field_ = false;
  std::vector<char> json_data_;  // json only; capacity never above max_event_bytes
  bool json_data_too_long_ = false;

  bool done_seen_ = false;
  std::uint64_t events_ = 0;
};

}  // namespace baton::proxy
