// A TCP socket whose operations end at a deadline, for streams with many small
// operations.
//
// beast::tcp_stream arms a timer before every operation and cancels it after, which
// costs two trips through the scheduler per read or write. Here the deadline is a time
// that each operation moves forward; the socket's one timer wakes only when the
// earliest deadline it knows of passes, and then either cancels the socket's operations
// (the deadline really passed) or sleeps until the deadline that moved meanwhile.
#pragma once

#include "baton/core/asio.hpp"

#include <chrono>
#include <memory>

namespace baton::core {

class TimedSocket {
public:
  using executor_type = Executor;
  using Clock = std::chrono::steady_clock;

  explicit TimedSocket(TcpSocket socket);
  explicit TimedSocket(const Executor& executor);
  ~TimedSocket();

  TimedSocket(const TimedSocket&) = delete;
  TimedSocket& operator=(const TimedSocket&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  TcpSocket& socket() noexcept { return socket_; }

  // The operations started from now on must end within `timeout`.
  void expires_after(Clock::duration timeout);
  void expires_never();

  // The error an operation ended with, with a cancellation by the deadline reported as
  // beast::error::timeout.
  beast::error_code outcome(const beast::error_code& error) const;

  // Cancels pending operations and closes the socket.
  void close();

  // AsyncReadStream / AsyncWriteStream, so Beast and Asio algorithms take it directly.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

private:
  void arm(Clock::time_point at);
  void on_timer(const beast::error_code& error);

  TcpSocket socket_;
  SteadyTimer timer_;
  // False once this object is gone. A wake-up that was already due when the timer was
  // destroyed still runs, with success rather than operation_aborted: it must not touch
  // the object then.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point armed_for_ = Clock::time_point::max();  // max: not armed
  bool timed_out_ = false;
};

}  // namespace baton::core
