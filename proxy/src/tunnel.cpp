#include "baton/proxy/tunnel.hpp"

#include <array>

namespace baton::proxy {
namespace {

using Clock = std::chrono::steady_clock;

struct Splice {
  TcpSocket& a;
  TcpSocket& b;
  core::Duration idle_timeout;
  Clock::time_point last_traffic = Clock::now();
  int directions_running = 2;
  SteadyTimer idle_timer;
  SplicedBytes bytes;

  void close_both() {
    beast::error_code ignored;
    a.close(ignored);
    b.close(ignored);
  }
};

Awaitable<void> pump(Splice& splice, TcpSocket& from, beast::flat_buffer& pending,
                          TcpSocket& to, std::uint64_t& carried) {
  beast::error_code error;
  if (pending.size() > 0) {
    const std::size_t written =
        co_await net::async_write(to, pending.data(), net::redirect_error(use_awaitable, error));
    carried += written;
    pending.consume(pending.size());
  }
  std::array<char, 8192> chunk;
  while (!error) {
    std::size_t n = co_await from.async_read_some(net::buffer(chunk),
                                                  net::redirect_error(use_awaitable, error));
    if (error) break;
    splice.last_traffic = Clock::now();
    const std::size_t written = co_await net::async_write(to, net::buffer(chunk.data(), n),
                                                          net::redirect_error(use_awaitable, error));
    carried += written;
  }
  if (error == net::error::eof) {
    to.shutdown(net::socket_base::shutdown_send, error);
  } else {
    splice.close_both();
  }
}

// One timer for both directions, re-armed at the moment the tunnel would become idle
// rather than ticking at a fixed rate.
Awaitable<void> watch_idle(Splice& splice) {
  while (splice.directions_running > 0) {
    splice.idle_timer.expires_at(splice.last_traffic + splice.idle_timeout);
    beast::error_code error;
    co_await splice.idle_timer.async_wait(net::redirect_error(use_awaitable, error));
    if (error) co_return;  // both directions ended
    if (Clock::now() >= splice.last_traffic + splice.idle_timeout) {
      splice.close_both();
      co_return;
    }
  }
}

}  // namespace

Awaitable<SplicedBytes> splice(TcpSocket& a, beast::flat_buffer& from_a, TcpSocket& b,
                               beast::flat_buffer& from_b, core::Duration idle_timeout) {
  auto executor = co_await net::this_coro::executor;
  Splice splice{a, b, idle_timeout, Clock::now(), 2, SteadyTimer(executor), {}};
  auto direction_done = [&splice](std::exception_ptr) {
    if (--splice.directions_running == 0) splice.idle_timer.cancel();
  };
  net::co_spawn(executor, pump(splice, a, from_a, b, splice.bytes.from_a), direction_done);
  net::co_spawn(executor, pump(splice, b, from_b, a, splice.bytes.from_b), direction_done);
  // Returns when the timer is cancelled by the last direction, or the tunnel went idle;
  // in the latter case the closed sockets end both directions before the frame goes.
  co_await watch_idle(splice);
  while (splice.directions_running > 0) {
    splice.idle_timer.expires_at(Clock::time_point::max());
    beast::error_code ignored;
    co_await splice.idle_timer.async_wait(net::redirect_error(use_awaitable, ignored));
  }
  co_return splice.bytes;
}

}  // namespace baton::proxy
