#include "baton/proxy/proxy_metrics.hpp"

#include <vector>

namespace baton::proxy {
namespace {

using core::metrics::Counter;
using std::chrono::duration;

constexpr std::array<std::string_view, 5> status_classes{"1xx", "2xx", "3xx", "4xx", "5xx"};

// The `result` label of baton_lease_acquisitions_total, in the order of RouteSeries.
constexpr std::array<LeaseDecision, 6> acquisition_results{
    LeaseDecision::acquired,         LeaseDecision::waited,       LeaseDecision::busy,
    LeaseDecision::too_many_waiters, LeaseDecision::backend_down, LeaseDecision::fail_open};

constexpr std::array<std::string_view, 4> upstream_error_kinds{"connect", "timeout", "reset", "bad_response"};

// Seconds. Requests run from a millisecond to long event streams; lease waits and Redis
// round trips from tens of microseconds up to their timeouts.
const std::vector<double> request_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1,     2.5,    5,     10,   30,    60,   120, 300};
const std::vector<double> lease_wait_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5,      10,    30};
const std::vector<double> round_trip_buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1};

double seconds(std::chrono::nanoseconds elapsed) { return duration<double>(elapsed).count(); }

std::optional<std::size_t> acquisition_index(LeaseDecision decision) {
  for (std::size_t i = 0; i < acquisition_results.size(); ++i)
    if (acquisition_results[i] == decision) return i;
  return std::nullopt;
}

}  // namespace

ProxyMetrics::ProxyMetrics(core::metrics::Registry& registry, const core::Config& config) {
  requests_ = &registry.counter("baton_requests_total", "Requests answered, by route and status class.",
                                {"route", "code_class"});
  durations_ = &registry.histogram("baton_request_duration_seconds",
                                   "From the first byte of the request to the end of its answer, by route.",
                                   request_buckets, {"route"});
  acquisitions_ = &registry.counter("baton_lease_acquisitions_total",
                                    "Lease decisions of requests on leased routes, by route and result.",
                                    {"route", "result"});
  add_route(unmatched_route);
  for (const auto& route : config.routes) add_route(route.name);
  add_route(other_route);

  lease_wait_ = &registry.histogram("baton_lease_wait_seconds",
                                    "Time spent taking a lease in the lease store, whatever the result.",
                                    lease_wait_buckets);
  leases_held_ = &registry.gauge("baton_leases_held", "Leases held by requests of this process now.");
  lease_waiters_ = &registry.gauge("baton_lease_waiters", "Requests of this process taking a lease now.");
  handoffs_ = &registry.counter(
      "baton_lease_handoffs_total",
      "Leases acquired after waiting in line, or whose previous holder was another instance.");
  leases_lost_ = &registry.counter("baton_leases_lost_total",
                                   "Leases a renewal found expired or forced away while their request ran.");
  lease_max_hold_ = &registry.counter("baton_lease_max_hold_total", "Leases ended by lease.max_hold.");
  forced_releases_ = &registry.counter(
      "baton_lease_forced_releases_total", "Leases forced away through this process's admin endpoint.");
  late_releases_ = &registry.counter(
      "baton_lease_late_releases_total",
      "Releases by requests that found their lease already gone (expired or forced away): no-ops.");
  lease_renewals_ = &registry.counter("baton_lease_renewals_total", "Lease renewals sent by the watchdog.");

  auto& upstream_errors = registry.counter("baton_upstream_errors_total", "Failed exchanges with the engine, by kind.",
                                           {"kind"});
  for (std::size_t i = 0; i < upstream_error_kinds.size(); ++i)
    upstream_errors_[i] = &upstream_errors.with({std::string(upstream_error_kinds[i])});
  sse_streams_ = &registry.gauge("baton_sse_streams_active", "Event streams being relayed now.");
  auto& bytes = registry.counter("baton_bytes_total",
                                 "Body bytes relayed, counted when the request ends: in from clients, out to them.",
                                 {"direction"});
  bytes_in_ = &bytes.with({"in"});
  bytes_out_ = &bytes.with({"out"});

  if (config.lease.backend != core::LeaseBackend::redis) return;
  registry.gauge_function("baton_redis_up", "1 when the Redis command connection of every lease store is up, else 0.",
                          [clients = redis_clients_] {
                            const int running = clients->running.load(std::memory_order_relaxed);
                            const int connected = clients->connected.load(std::memory_order_relaxed);
                            return running > 0 && connected >= running ? 1.0 : 0.0;
                          });
  redis_errors_ = &registry.counter("baton_redis_errors_total",
                                    "Redis commands that failed: no reply (not connected, timeout) or an error reply.");
  redis_round_trip_ = &registry.histogram("baton_redis_round_trip_seconds",
                                          "Redis commands (or pipelined batches), from written to answered.",
                                          round_trip_buckets);
}

void ProxyMetrics::add_route(std::string_view name) {
  if (routes_.count(name) != 0) return;
  RouteSeries series;
  const std::string route(name);
  for (std::size_t i = 0; i < status_classes.size(); ++i)
    series.requests[i] = &requests_->with({route, std::string(status_classes[i])});
  for (std::size_t i = 0; i < acquisition_results.size(); ++i)
    series.acquisitions[i] = &acquisitions_->with({route, std::string(to_string(acquisition_results[i]))});
  series.duration = &durations_->with({route});
  routes_.emplace(route, series);
}

const ProxyMetrics::RouteSeries& ProxyMetrics::route_series(std::string_view route) const noexcept {
  auto found = routes_.find(route.empty() ? unmatched_route : route);
  if (found == routes_.end()) found = routes_.find(other_route);
  return found->second;
}

void ProxyMetrics::request_done(const RequestRecord& record) noexcept {
  const RouteSeries& series = route_series(record.route);
  if (record.status >= 100 && record.status < 600) series.requests[record.status / 100 - 1]->inc();
  series.duration->observe(seconds(record.duration));
  bytes_in_->inc(record.bytes_in);
  bytes_out_->inc(record.bytes_out);
}

void ProxyMetrics::lease_decided(const RequestRecord& record) noexcept {
  const auto index = acquisition_index(record.lease);
  if (!index) return;
  route_series(record.route).acquisitions[*index]->inc();
  lease_wait_->observe(seconds(record.wait));
  const bool held = record.lease == LeaseDecision::acquired || record.lease == LeaseDecision::waited;
  if (!held) return;
  leases_held_->add(1);
  if (record.lease == LeaseDecision::waited || record.migrated) handoffs_->inc();
}

void ProxyMetrics::upstream_error(UpstreamError kind) noexcept {
  upstream_errors_[static_cast<std::size_t>(kind)]->inc();
}

void ProxyMetrics::round_trip(std::chrono::nanoseconds elapsed) noexcept {
  if (redis_round_trip_) redis_round_trip_->observe(seconds(elapsed));
}

void ProxyMetrics::command_failed() noexcept {
  if (redis_errors_) redis_errors_->inc();
}

void ProxyMetrics::client_running(bool running) noexcept {
  redis_clients_->running.fetch_add(running ? 1 : -1, std::memory_order_relaxed);
}

void ProxyMetrics::connection(bool up) noexcept {
  redis_clients_->connected.fetch_add(up ? 1 : -1, std::memory_order_relaxed);
}

}  // namespace baton::proxy
