#include "worker.hpp"

#include "baton/core/listener.hpp"
#include "connection.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace baton::lockd {

Worker::Worker(WorkerShared& shared, unsigned index, const tcp::endpoint& listen, lease::LeaseStoreFactory& stores)
    : shared_(shared), index_(index), acceptor_(core::open_listener(io_, listen)), store_(stores.create(io_.get_executor())) {}

Worker::~Worker() { io_.shutdown(); }

void Worker::run() {
  net::co_spawn(io_, accept_loop(), core::log_unexpected_exception);
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
  co_await core::accept_connections(
      acceptor_,
      [this](TcpSocket socket) {
        net::co_spawn(io_, serve_connection(*this, std::move(socket)), core::log_unexpected_exception);
      },
      "worker " + std::to_string(index_));
}

}  // namespace baton::lockd
