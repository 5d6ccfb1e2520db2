#include "worker.hpp"

#include "connection.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace baton::lockd {
namespace {

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr auto accept_backoff_min = std::chrono::milliseconds(10);
constexpr auto accept_backoff_max = std::chrono::seconds(1);

TcpAcceptor open_listener(net::io_context& io, const tcp::endpoint& endpoint) {
  TcpAcceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.set_option(reuse_port(true));  // one listener per worker; the kernel spreads connections
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
  return acceptor;
}

// The request path reports its errors as replies; anything thrown is a bug, and costs
// one connection, not the process.
void log_unexpected_exception(std::exception_ptr exception) {
  if (!exception) return;
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& error) {
    spdlog::error("client connection ended by an exception: {}", error.what());
  }
}

}  // namespace

Worker::Worker(WorkerShared& shared, unsigned index, const tcp::endpoint& listen, lease::LeaseStoreFactory& stores)
    : shared_(shared), index_(index), acceptor_(open_listener(io_, listen)), store_(stores.create(io_.get_executor())) {}

Worker::~Worker() { io_.shutdown(); }

void Worker::run() {
  net::co_spawn(io_, accept_loop(), log_unexpected_exception);
  io_.run();
}

void Worker::drain() {
  net::post(io_, [this] { begin_drain(); });
}

void Worker::stop() { io_.stop(); }

void Worker::remove(Connection& connection) {
  connections_.erase(&connection);
  // The store may keep the loop busy for ever (Redis connections), so the end of the
  // last connection ends it.
  if (draining_ && connections_.empty()) io_.stop();
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  if (connections_.empty()) {
    io_.stop();
    return;
  }
  // close_if_idle ends a connection's wait for its next request; it leaves the set as it
  // unwinds, later.
  const std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (auto* connection : open) connection->close_if_idle();
}

Awaitable<void> Worker::accept_loop() {
  auto backoff = accept_backoff_min;
  SteadyTimer backoff_timer(io_);
  while (!draining_) {
    beast::error_code error;
    TcpSocket socket = co_await acceptor_.async_accept(net::redirect_error(use_awaitable, error));
    if (error == net::error::operation_aborted || draining_) break;
    if (error) {
      // Out of file descriptors or memory: wait and try again rather than spin or stop.
      spdlog::warn("worker {}: accept failed: {}; retrying in {} ms", index_, error.message(), backoff.count());
      backoff_timer.expires_after(backoff);
      co_await backoff_timer.async_wait(net::redirect_error(use_awaitable, error));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, accept_backoff_max);
      continue;
    }
    backoff = accept_backoff_min;
    socket.set_option(tcp::no_delay(true), error);
    net::co_spawn(io_, serve_connection(*this, std::move(socket)), log_unexpected_exception);
  }
}

}  // namespace baton::lockd
