#include "baton/proxy/admin_stream.hpp"

namespace baton::proxy {

StreamSlots::StreamSlots(std::size_t capacity) : count_(std::make_shared<Count>()) {
  count_->capacity = capacity;
}

std::optional<StreamSlots::Slot> StreamSlots::take() {
  if (count_->in_use >= count_->capacity) return std::nullopt;
  ++count_->in_use;
  return Slot(count_);
}

StreamSlots::Slot& StreamSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    give_back();
    count_ = std::move(other.count_);
  }
  return *this;
}

StreamSlots::Slot::~Slot() { give_back(); }

void StreamSlots::Slot::give_back() {
  if (count_) --count_->in_use;
  count_.reset();
}

std::string sse_event(std::string_view name, std::string_view data) {
  std::string event;
  event.reserve(name.size() + data.size() + 24);
  event.append("event: ").append(name).append("\n");
  // A line break inside the data (LF, CR or CRLF, as SSE counts them) would end its
  // field early: each line gets a field of its own.
  for (;;) {
    const auto end = data.find_first_of("\r\n");
    event.append("data: ").append(data.substr(0, end)).append("\n");
    if (end == std::string_view::npos) break;
    const bool crlf = data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n';
    data.remove_prefix(end + (crlf ? 2 : 1));
  }
  event.append("\n");
  return event;
}

std::string sse_comment(std::string_view text) {
  std::string comment(": ");
  comment.append(text).append("\n\n");
  return comment;
}

}  // namespace baton::proxy
