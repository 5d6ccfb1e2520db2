// One worker thread: its own io_context, listener socket (SO_REUSEPORT), engine
// connection pool and request ids. Workers share nothing, so the request path takes no
// lock; a client connection lives on one worker for its whole life.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/core/worker_group.hpp"
#include "baton/lease/store_factory.hpp"
#include "baton/lease/watchdog.hpp"
#include "baton/proxy/access_log.hpp"
#include "baton/proxy/proxy_metrics.hpp"
#include "baton/proxy/request_id.hpp"
#include "baton/proxy/request_record.hpp"
#include "baton/proxy/rules.hpp"
#include "baton/proxy/upstream_pool.hpp"

#include <memory>
#include <unordered_set>

namespace baton::proxy {

class ClientConnection;

class Worker final : public core::DrainableWorker {
public:
  // Binds the listener now, so that a port in use fails the start, not a thread.
  Worker(std::shared_ptr<const core::Config> config, std::shared_ptr<const ProxyRules> rules,
         unsigned index, const tcp::endpoint& listen, std::vector<tcp::endpoint> upstream,
         lease::LeaseStoreFactory& stores, ProxyMetrics& metrics, const AccessLog* access_log);
  ~Worker() override;

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the event loop until the worker has drained. The thread body.
  void run() override;

  // Thread-safe: stop accepting, close idle client connections, and let the ones in
  // flight finish their current request.
  void drain() override;

  // Thread-safe: end what is in flight (drain deadline): release every lease held, then
  // stop the event loop once Redis has answered or one command timeout has passed.
  void stop() override;

  const core::Config& config() const { return *config_; }
  bool draining() const { return draining_; }
  UpstreamPool& upstream() { return upstream_; }
  RequestIdGenerator& request_ids() { return request_ids_; }
  // The rules for a request starting now; the request keeps them to its end.
  const std::shared_ptr<const ProxyRules>& rules() const { return rules_; }
  // Thread-safe: requests that start after this use `rules` (SIGHUP reload).
  void replace_rules(std::shared_ptr<const ProxyRules> rules);
  lease::LeaseStore& leases() { return *lease_store_; }
  lease::Watchdog& watchdog() { return *watchdog_; }
  ProxyMetrics& metrics() { return metrics_; }

  // A request has ended: it goes to the metrics and the access log.
  void request_done(const RequestRecord& record);

  // Ends a lease without holding up the exchange that had it. A drain waits for these.
  void release_in_background(lease::Lease lease);

  // Every client connection, for the end of a drain.
  void connection_opened() { ++connections_; }
  void connection_closed();

  // Client connections waiting for their next request; drain closes them.
  void mark_idle(ClientConnection& connection) { idle_connections_.insert(&connection); }
  void mark_busy(ClientConnection& connection) { idle_connections_.erase(&connection); }

private:
  // Destroys the coroutines still waiting before the members they refer to (the lease
  // store): ~io_context would do it only after them.
  class Context : public net::io_context {
  public:
    using net::io_context::io_context;
    using net::io_context::shutdown;
  };

  Awaitable<void> accept_loop();
  // The watchdog counts renewals on this thread; this adds them to the shared metric.
  Awaitable<void> publish_renewals();
  Awaitable<void> release(lease::Lease lease);
  void begin_drain();
  void release_all_and_stop();
  // The lease store keeps the loop busy for ever (Redis connections), so a drained
  // worker ends its loop itself once nothing is in flight.
  void finish_drain_when_idle();

  std::shared_ptr<const core::Config> config_;
  std::shared_ptr<const ProxyRules> rules_;
  unsigned index_;
  // Only this thread touches the worker's sockets, so the reactor needs no locking; the
  // scheduler keeps its lock for drain() and stop(), which come from the control thread.
  Context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  TcpAcceptor acceptor_;
  UpstreamPool upstream_;
  RequestIdGenerator request_ids_;
  lease::LeaseStorePtr lease_store_;
  std::unique_ptr<lease::Watchdog> watchdog_;
  ProxyMetrics& metrics_;
  const AccessLog* access_log_;  // null without logging.access_log
  std::uint64_t renewals_published_ = 0;
  std::unordered_set<ClientConnection*> idle_connections_;
  SteadyTimer stop_deadline_;
  std::size_t connections_ = 0;
  std::size_t releases_in_flight_ = 0;
  bool draining_ = false;
  bool stopping_ = false;
};

}  // namespace baton::proxy
