// One worker thread of baton-lockd: its own io_context, listener socket (SO_REUSEPORT)
// and lease store. A connection stays on one worker for its whole life, so the request
// path takes no lock.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/worker_group.hpp"
#include "baton/lease/store_factory.hpp"
#include "daemon_metrics.hpp"
#include "http_api.hpp"

#include <unordered_set>

namespace baton::lockd {

class Connection;

// What every worker shares, owned by the server.
struct WorkerShared {
  ApiSettings api;
  bool access_log = true;
  DaemonMetrics metrics;
};

class Worker final : public core::DrainableWorker {
public:
  // Binds the listener now, so that a port in use fails the start, not a thread.
  Worker(WorkerShared& shared, unsigned index, const tcp::endpoint& listen, lease::LeaseStoreFactory& stores);
  ~Worker();

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The thread body: serves until drained or stopped.
  void run() override;

  // Thread-safe: stop accepting, close idle connections, let requests in flight finish;
  // the event loop ends when the last connection has closed.
  void drain() override;

  // Thread-safe: end the event loop now, whatever is in flight (drain deadline).
  void stop() override;

  const ApiSettings& api() const { return shared_.api; }
  bool access_log() const { return shared_.access_log; }
  DaemonMetrics& metrics() { return shared_.metrics; }
  lease::LeaseStore& store() { return *store_; }
  bool draining() const { return draining_; }

  void add(Connection& connection) { connections_.insert(&connection); }
  void remove(Connection& connection);

private:
  // An io_context whose pending handlers can be destroyed before the worker's other
  // members: coroutines still waiting refer to the store, and ~io_context would destroy
  // them only after the store is gone.
  class Context : public net::io_context {
  public:
    Context() : net::io_context(1) {}
    using net::io_context::shutdown;
  };

  Awaitable<void> accept_loop();
  void begin_drain();

  WorkerShared& shared_;
  unsigned index_;
  Context io_;
  TcpAcceptor acceptor_;
  lease::LeaseStorePtr store_;
  std::unordered_set<Connection*> connections_;
  bool draining_ = false;
};

}  // namespace baton::lockd
