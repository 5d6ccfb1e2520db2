#include "baton/proxy/sse_scanner.hpp"

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <algorithm>
#include <cstddef>

namespace baton::proxy {

namespace {

using namespace std::string_view_literals;
using Kind = core::SseDone::Kind;

constexpr auto byte_order_mark = "\xEF\xBB\xBF"sv;

// A buffer grown for a rare large event is let go once it is over, so that thousands of
// idle streams stay small.
constexpr std::size_t kept_data_capacity = 4 * 1024;

std::size_t find_line_end(std::string_view piece, std::size_t from) {
  for (auto i = from; i < piece.size(); ++i) {
    if (piece[i] == '\n' || piece[i] == '\r') return i;
  }
  return piece.size();
}

// Numbers are parsed as their text, so that 1.0 equals "1.0" and not "1".
bool json_text_equals(const rapidjson::Value& value, std::string_view expected) {
  if (value.IsString()) return std::string_view(value.GetString(), value.GetStringLength()) == expected;
  if (value.IsBool()) return (value.GetBool() ? "true"sv : "false"sv) == expected;
  return false;
}

}  // namespace

void SseScanner::StreamingEquals::feed(std::string_view bytes) noexcept {
  if (matching_) {
    matching_ = bytes.size() <= expected_.size() - seen_ &&
                std::string_view(expected_).substr(seen_, bytes.size()) == bytes;
  }
  seen_ += bytes.size();
}

void SseScanner::StreamingEquals::restart() noexcept {
  seen_ = 0;
  matching_ = true;
}

SseScanner::SseScanner(core::SseDone done, std::size_t max_event_bytes)
    : kind_(done.kind), max_event_bytes_(max_event_bytes), done_value_(std::move(done.value)) {
  if (kind_ == Kind::json) {
    auto pointer = std::make_unique<const rapidjson::Pointer>(done.json_pointer.data(), done.json_pointer.size());
    if (pointer->IsValid()) json_pointer_ = std::move(pointer);
  }
}

SseScanner::~SseScanner() = default;
SseScanner::SseScanner(SseScanner&&) noexcept = default;
SseScanner& SseScanner::operator=(SseScanner&&) noexcept = default;

std::optional<std::size_t> SseScanner::feed(std::string_view piece) {
  std::optional<std::size_t> done_end;
  auto pos = skip_byte_order_mark(piece);
  while (pos < piece.size()) {
    if (std::exchange(cr_ended_line_, false) && piece[pos] == '\n') {
      ++pos;  // the LF of a CRLF cut between two pieces
      continue;
    }
    const auto line_end = find_line_end(piece, pos);
    scan_line_content(piece.substr(pos, line_end - pos));
    if (line_end == piece.size()) break;
    pos = skip_line_end(piece, line_end);
    if (end_line()) done_end = pos;
  }
  return done_end;
}

// Returns where the next line starts; a CR at the end of the piece leaves it open
// whether an LF follows.
std::size_t SseScanner::skip_line_end(std::string_view piece, std::size_t line_end) {
  const auto next = line_end + 1;
  if (piece[line_end] == '\n') return next;
  if (next == piece.size()) {
    cr_ended_line_ = true;
    return next;
  }
  return piece[next] == '\n' ? next + 1 : next;
}

// The mark may arrive split; bytes held back that turn out not to be one are content.
std::size_t SseScanner::skip_byte_order_mark(std::string_view piece) {
  std::size_t pos = 0;
  while (!bom_checked_ && pos < piece.size()) {
    if (piece[pos] != byte_order_mark[bom_bytes_seen_]) {
      bom_checked_ = true;
      scan_line_content(byte_order_mark.substr(0, bom_bytes_seen_));
      break;
    }
    ++pos;
    bom_checked_ = ++bom_bytes_seen_ == byte_order_mark.size();
  }
  return pos;
}

// `content` is part of one line, without its line end.
void SseScanner::scan_line_content(std::string_view content) {
  while (!content.empty()) {
    switch (line_) {
      case Line::start:
        line_ = content.front() == ':' ? Line::comment : Line::name;
        break;
      case Line::name:
        content = scan_field_name(content);
        break;
      case Line::value_start:
        if (content.front() == ' ') content.remove_prefix(1);
        line_ = Line::value;
        break;
      case Line::value:
        append_value(content);
        return;
      case Line::comment:
        return;
    }
  }
}

// Returns what follows the colon, if the name ends in `content`.
std::string_view SseScanner::scan_field_name(std::string_view content) {
  const auto colon = content.find(':');
  const auto part = content.substr(0, colon);
  if (part.size() > sizeof name_ - name_length_) {
    name_too_long_ = true;
  } else {
    std::copy(part.begin(), part.end(), name_ + name_length_);
    name_length_ += static_cast<std::uint8_t>(part.size());
  }
  if (colon == std::string_view::npos) return {};
  begin_field(field_named());
  line_ = Line::value_start;
  return content.substr(colon + 1);
}

SseScanner::Field SseScanner::field_named() const noexcept {
  if (name_too_long_) return Field::ignored;
  const std::string_view name(name_, name_length_);
  if (name == "event") return Field::event;
  if (name == "data") return Field::data;
  return Field::ignored;  // id and retry matter to a browser reconnecting, not here
}

// Returns true when the line was the blank line that completes the done event.
bool SseScanner::end_line() {
  const auto ended = line_;
  if (ended == Line::name) begin_field(field_named());  // no colon: the value is empty
  line_ = Line::start;
  field_ = Field::ignored;
  name_length_ = 0;
  name_too_long_ = false;
  return ended == Line::start && dispatch_event();
}

void SseScanner::begin_field(Field field) {
  field_ = field;
  if (field == Field::event) {
    has_event_field_ = true;  // a later event field replaces the name
    if (kind_ == Kind::event) done_value_.restart();
  } else if (field == Field::data) {
    if (has_data_lines_) append_data("\n");
    has_data_lines_ = true;
  }
}

void SseScanner::append_value(std::string_view bytes) {
  if (field_ == Field::event && kind_ == Kind::event && !done_seen_) done_value_.feed(bytes);
  if (field_ == Field::data) append_data(bytes);
}

void SseScanner::append_data(std::string_view bytes) {
  if (done_seen_) return;
  if (kind_ == Kind::data) done_value_.feed(bytes);
  if (kind_ == Kind::json && json_pointer_) keep_json_data(bytes);
}

void SseScanner::keep_json_data(std::string_view bytes) {
  if (json_data_too_long_) return;
  if (bytes.size() > max_event_bytes_ - json_data_.size()) {
    json_data_too_long_ = true;
    json_data_.clear();
    return;
  }
  const auto needed = json_data_.size() + bytes.size();
  // reserve() of a vector allocates exactly what is asked, unlike growth by insert().
  if (needed > json_data_.capacity())
    json_data_.reserve(std::min(max_event_bytes_, std::max(needed, 2 * json_data_.capacity())));
  json_data_.insert(json_data_.end(), bytes.begin(), bytes.end());
}

bool SseScanner::dispatch_event() {
  bool completes_done = false;
  if (has_data_lines_ || is_done_event_without_data()) {
    ++events_;
    completes_done = !done_seen_ && matches_done();
    done_seen_ = done_seen_ || completes_done;
  }
  reset_event();
  return completes_done;
}

bool SseScanner::is_done_event_without_data() const {
  return kind_ == Kind::event && has_event_field_ && !done_seen_ && event_type_matches();
}

bool SseScanner::matches_done() const {
  switch (kind_) {
    case Kind::none:
      return false;
    case Kind::event:
      return event_type_matches();
    case Kind::data:
      return done_value_.equals();
    case Kind::json:
      return json_data_matches();
  }
  return false;
}

// An event without a name, or with an empty one, is of type "message".
bool SseScanner::event_type_matches() const {
  return done_value_.empty() ? done_value_.expected() == "message" : done_value_.equals();
}

bool SseScanner::json_data_matches() const {
  if (!json_pointer_ || json_data_too_long_ || json_data_.empty()) return false;
  // Typical events parse within these buffers, without touching the heap.
  alignas(std::max_align_t) char value_buffer[4096];
  alignas(std::max_align_t) char parse_buffer[2048];
  constexpr std::size_t parse_stack_capacity = 1024;  // leaves the pool room to grow it
  rapidjson::MemoryPoolAllocator<> value_allocator(value_buffer, sizeof value_buffer);
  rapidjson::MemoryPoolAllocator<> parse_allocator(parse_buffer, sizeof parse_buffer);
  rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, rapidjson::MemoryPoolAllocator<>>
      document(&value_allocator, parse_stack_capacity, &parse_allocator);
  document.Parse<rapidjson::kParseNumbersAsStringsFlag>(json_data_.data(), json_data_.size());
  if (document.HasParseError()) return false;
  const auto* found = json_pointer_->Get(static_cast<const rapidjson::Value&>(document));
  return found && json_text_equals(*found, done_value_.expected());
}

void SseScanner::reset_event() {
  has_data_lines_ = false;
  has_event_field_ = false;
  done_value_.restart();
  json_data_.clear();
  json_data_too_long_ = false;
  if (json_data_.capacity() > kept_data_capacity) std::vector<char>().swap(json_data_);
}

}  // namespace baton::proxy
