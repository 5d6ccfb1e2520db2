// The Prometheus metrics of baton-proxy (README.md, "Metrics"). One object per process,
// shared by the worker threads. Every series is registered by the constructor, so that
// counting on the request path is a relaxed atomic: no lock, no lookup that allocates.
#pragma once

#include "baton/core/config.hpp"
#include "baton/core/metrics.hpp"
#include "baton/proxy/request_record.hpp"
#include "baton/redis/client.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace baton::proxy {

enum class UpstreamError {
  connect,       // no connection to the engine
  timeout,       // the engine took longer than upstream.read_timeout
  reset,         // the engine closed or reset the connection
  bad_response,  // what the engine sent is not valid HTTP/1.1
};

class ProxyMetrics final : public redis::ClientObserver {
public:
  // Route labels besides the configured names: requests no route matched (or whose head
  // could not be read), and routes unknown at start (added by a reload). Label values
  // stay bounded whatever the requests.
  static constexpr std::string_view unmatched_route = "unmatched";
  static constexpr std::string_view other_route = "other";

  // Registers every family in `registry`, which must outlive this object. The baton_redis_*
  // families exist only with lease.backend: redis.
  ProxyMetrics(core::metrics::Registry& registry, const core::Config& config);
  ProxyMetrics(const ProxyMetrics&) = delete;
  ProxyMetrics& operator=(const ProxyMetrics&) = delete;

  // The request has ended: its answer was sent, or it was refused or cut.
  void request_done(const RequestRecord& record) noexcept;

  // The request's lease was decided (record.route, .lease, .wait and .migrated are set).
  // Counts acquisitions, waits and hand-offs; none and bypassed count nothing.
  void lease_decided(const RequestRecord& record) noexcept;
  // Around a call into the lease store's acquire.
  void lease_wait_began() noexcept { lease_waiters_->add(1); }
  void lease_wait_ended() noexcept { lease_waiters_->add(-1); }
  // A lease a request held has ended, however.
  void lease_ended() noexcept { leases_held_->add(-1); }
  void lease_lost() noexcept { leases_lost_->inc(); }
  void lease_max_hold() noexcept { lease_max_hold_->inc(); }
  void lease_renewals(std::uint64_t count) noexcept { lease_renewals_->inc(count); }
  // An operator's forced release through the admin endpoint.
  void forced_release() noexcept { forced_releases_->inc(); }
  // A request's release that found its lease already gone (expired or forced): a no-op.
  void late_release() noexcept { late_releases_->inc(); }

  void upstream_error(UpstreamError kind) noexcept;
  void sse_stream_began() noexcept { sse_streams_->add(1); }
  void sse_stream_ended() noexcept { sse_streams_->add(-1); }

  // redis::ClientObserver, for the command connection of every Redis store the process
  // makes (the workers' and the admin's).
  void round_trip(std::chrono::nanoseconds elapsed) noexcept override;
  void command_failed() noexcept override;
  void client_running(bool running) noexcept override;
  void connection(bool up) noexcept override;

private:
  using Counter = core::metrics::Counter;

  struct RouteSeries {
    std::array<Counter*, 5> requests{};      // by status class, 1xx to 5xx
    std::array<Counter*, 6> acquisitions{};  // by result, in the order of acquisition_results
    core::metrics::Histogram* duration = nullptr;
  };

  void add_route(std::string_view name);
  const RouteSeries& route_series(std::string_view route) const noexcept;

  // Set by the constructor, read-only afterwards: safe to read from every thread.
  std::map<std::string, RouteSeries, std::less<>> routes_;
  core::metrics::Family<Counter>* requests_ = nullptr;
  core::metrics::Family<core::metrics::Histogram>* durations_ = nullptr;
  core::metrics::Family<Counter>* acquisitions_ = nullptr;
  core::metrics::Histogram* lease_wait_ = nullptr;
  core::metrics::Gauge* leases_held_ = nullptr;
  core::metrics::Gauge* lease_waiters_ = nullptr;
  Counter* handoffs_ = nullptr;
  Counter* leases_lost_ = nullptr;
  Counter* lease_max_hold_ = nullptr;
  Counter* forced_releases_ = nullptr;
  Counter* late_releases_ = nullptr;
  Counter* lease_renewals_ = nullptr;
  std::array<Counter*, 4> upstream_errors_{};  // by UpstreamError
  core::metrics::Gauge* sse_streams_ = nullptr;
  Counter* bytes_in_ = nullptr;
  Counter* bytes_out_ = nullptr;

  // Redis backend only; null otherwise.
  Counter* redis_errors_ = nullptr;
  core::metrics::Histogram* redis_round_trip_ = nullptr;
  // Read by the baton_redis_up callback, which the registry may keep after we are gone.
  struct RedisClients {
    std::atomic<int> running{0};
    std::atomic<int> connected{0};
  };
  std::shared_ptr<RedisClients> redis_clients_ = std::make_shared<RedisClients>();
};

}  // namespace baton::proxy
