#include "baton/core/timed_socket.hpp"

namespace baton::core {

TimedSocket::TimedSocket(TcpSocket socket)
    : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

TimedSocket::TimedSocket(const Executor& executor) : socket_(executor), timer_(executor) {}

TimedSocket::~TimedSocket() { *alive_ = false; }

void TimedSocket::expires_after(Clock::duration timeout) {
  timed_out_ = false;
  deadline_ = Clock::now() + timeout;
  // A later deadline leaves the timer alone: when it wakes it sleeps again until this one.
  if (deadline_ < armed_for_) arm(deadline_);
}

void TimedSocket::expires_never() {
  timed_out_ = false;
  deadline_ = Clock::time_point::max();
}

beast::error_code TimedSocket::outcome(const beast::error_code& error) const {
  if (timed_out_ && error == net::error::operation_aborted) return beast::error::timeout;
  return error;
}

void TimedSocket::close() {
  beast::error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  armed_for_ = Clock::time_point::max();
}

void TimedSocket::arm(Clock::time_point at) {
  armed_for_ = at;
  timer_.expires_at(at);
  timer_.async_wait([this, alive = alive_](const beast::error_code& error) {
    if (*alive) on_timer(error);
  });
}

void TimedSocket::on_timer(const beast::error_code& error) {
  if (error == net::error::operation_aborted) return;
  armed_for_ = Clock::time_point::max();
  if (deadline_ == Clock::time_point::max()) return;
  if (Clock::now() < deadline_) {
    arm(deadline_);
    return;
  }
  timed_out_ = true;
  beast::error_code ignored;
  socket_.cancel(ignored);
}

}  // namespace baton::core
