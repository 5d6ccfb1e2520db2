#include "baton/proxy/worker.hpp"

#include "baton/core/listener.hpp"
#include "baton/proxy/client_connection.hpp"

namespace baton::proxy {

Worker::Worker(std::shared_ptr<const core::Config> config, unsigned index,
               const tcp::endpoint& listen, std::vector<tcp::endpoint> upstream)
    : config_(std::move(config)),
      index_(index),
      acceptor_(core::open_listener(io_, listen)),
      upstream_(io_.get_executor(), config_->upstream, std::move(upstream)) {}

void Worker::run() {
  net::co_spawn(io_, accept_loop(), core::log_unexpected_exception);
  io_.run();
}

void Worker::drain() {
  net::post(io_, [this] { begin_drain(); });
}

void Worker::stop() { io_.stop(); }

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  upstream_.close_all();
  // close_if_idle ends the connection's wait; it leaves the set as it unwinds.
  auto idle = std::vector<ClientConnection*>(idle_connections_.begin(), idle_connections_.end());
  for (auto* connection : idle) connection->close_if_idle();
}

Awaitable<void> Worker::accept_loop() {
  co_await core::accept_connections(
      acceptor_,
      [this](TcpSocket socket) {
        net::co_spawn(io_, serve_client(*this, std::move(socket)), core::log_unexpected_exception);
      },
      "worker " + std::to_string(index_));
}

}  // namespace baton::proxy
