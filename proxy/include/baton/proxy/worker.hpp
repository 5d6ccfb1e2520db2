// One worker thread: its own io_context, listener socket (SO_REUSEPORT), engine
// connection pool and request ids. Workers share nothing, so the request path takes no
// lock; a client connection lives on one worker for its whole life.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/core/worker_group.hpp"
#include "baton/proxy/request_id.hpp"
#include "baton/proxy/upstream_pool.hpp"

#include <memory>
#include <unordered_set>

namespace baton::proxy {

class ClientConnection;

class Worker final : public core::DrainableWorker {
public:
  // Binds the listener now, so that a port in use fails the start, not a thread.
  Worker(std::shared_ptr<const core::Config> config, unsigned index,
         const tcp::endpoint& listen, std::vector<tcp::endpoint> upstream);

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the event loop until the worker has drained. The thread body.
  void run() override;

  // Thread-safe: stop accepting, close idle client connections, and let the ones in
  // flight finish their current request.
  void drain() override;

  // Thread-safe: stop the event loop now, whatever is in flight (drain deadline).
  void stop() override;

  const core::Config& config() const { return *config_; }
  unsigned index() const { return index_; }
  bool draining() const { return draining_; }
  UpstreamPool& upstream() { return upstream_; }
  RequestIdGenerator& request_ids() { return request_ids_; }

  // Client connections waiting for their next request; drain closes them.
  void mark_idle(ClientConnection& connection) { idle_connections_.insert(&connection); }
  void mark_busy(ClientConnection& connection) { idle_connections_.erase(&connection); }

private:
  Awaitable<void> accept_loop();
  void begin_drain();

  std::shared_ptr<const core::Config> config_;
  unsigned index_;
  // Only this thread touches the worker's sockets, so the reactor needs no locking; the
  // scheduler keeps its lock for drain() and stop(), which come from the control thread.
  net::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  TcpAcceptor acceptor_;
  UpstreamPool upstream_;
  RequestIdGenerator request_ids_;
  std::unordered_set<ClientConnection*> idle_connections_;
  bool draining_ = false;
};

}  // namespace baton::proxy
