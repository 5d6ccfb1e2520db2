// Admin responses whose body is written as it is produced (Server-Sent Events) rather
// than returned whole. A handler answers with the response head and an AdminStream; the
// admin server sends the head, runs the stream with a sink that writes to the client, and
// closes the connection when the stream ends. The server also tells the stream when to
// end early: the client went away, or the admin stops.
#pragma once

#include "baton/core/asio.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace baton::proxy {

// Where a stream writes. Used on the admin thread, by one stream at a time.
class AdminStreamSink {
public:
  virtual ~AdminStreamSink() = default;
  // Sends `bytes` to the client now. False when the stream must end: the client went
  // away, or did not take the bytes within the admin's send timeout.
  virtual Awaitable<bool> write(std::string bytes) = 0;
};

class AdminStream {
public:
  virtual ~AdminStream() = default;
  // Writes the body until stop() or a failed write, then returns.
  virtual Awaitable<void> run(AdminStreamSink& sink) = 0;
  // The client went away or the admin stops: run() returns soon. Admin thread only.
  virtual void stop() = 0;
};

using AdminStreamPtr = std::unique_ptr<AdminStream>;

// Bounds the streams open at once: a stream holds a Slot for its whole life. Admin
// thread only; a Slot may outlive its StreamSlots.
class StreamSlots {
  struct Count {
    std::size_t capacity = 0;
    std::size_t in_use = 0;
  };

public:
  explicit StreamSlots(std::size_t capacity);

  class Slot {
  public:
    Slot(Slot&& other) noexcept = default;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();

  private:
    friend class StreamSlots;
    explicit Slot(std::shared_ptr<Count> count) : count_(std::move(count)) {}
    void give_back();

    std::shared_ptr<Count> count_;  // null once moved from
  };

  // A slot, or nullopt when `capacity` streams are open.
  std::optional<Slot> take();
  std::size_t in_use() const { return count_->in_use; }
  std::size_t capacity() const { return count_->capacity; }

private:
  std::shared_ptr<Count> count_;
};

// One Server-Sent Event: "event: <name>", a "data: " line per line of `data`, a blank
// line.
std::string sse_event(std::string_view name, std::string_view data);

// A comment line and a blank line (": keep-alive"): keeps proxies and clients from
// taking a quiet stream for a dead one; EventSource ignores it.
std::string sse_comment(std::string_view text);

}  // namespace baton::proxy
