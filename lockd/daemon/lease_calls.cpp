#include "lease_calls.hpp"

#include <spdlog/spdlog.h>

#include <system_error>

namespace baton::lockd {
namespace {

Awaitable<Outcome> acquire(AcquireCall call, lease::LeaseStore& store, DaemonMetrics& metrics) {
  const std::string key = call.request.session;
  const std::string caller = call.request.instance;
  lease::AcquireResult result = co_await store.acquire(std::move(call.request));
  metrics.count(result.status);
  if (result.status == lease::AcquireStatus::backend_down)
    spdlog::warn("acquire '{}': lease backend down: {}", key, result.error ? result.error.message() : "unknown");
  Outcome outcome{acquire_reply(result, key, caller), std::nullopt};
  if (result.status == lease::AcquireStatus::acquired) outcome.granted = std::move(result.lease);
  co_return outcome;
}

Awaitable<Outcome> renew(RenewCall call, lease::LeaseStore& store, DaemonMetrics& metrics) {
  const std::string key = call.lease.session;
  const lease::RenewStatus status = co_await store.renew(std::move(call.lease), call.ttl);
  metrics.count(status);
  co_return Outcome{renew_reply(status, key, call.ttl), std::nullopt};
}

Awaitable<Outcome> release(ReleaseCall call, lease::LeaseStore& store, DaemonMetrics& metrics) {
  const std::string key = call.lease.session;
  const lease::ReleaseStatus status = co_await store.release(std::move(call.lease));
  metrics.count(status);
  co_return Outcome{release_reply(status, key), std::nullopt};
}

Awaitable<Outcome> inspect(InspectCall call, lease::LeaseStore& store) {
  const std::optional<lease::LeaseInfo> info = co_await store.inspect(call.key);
  co_return Outcome{inspect_reply(info, call.key), std::nullopt};
}

Awaitable<Outcome> list(ListCall call, lease::LeaseStore& store) {
  const lease::LeasePage page = co_await store.list(std::move(call.cursor), call.limit);
  co_return Outcome{list_reply(page), std::nullopt};
}

Awaitable<Outcome> call_store(Decision decision, lease::LeaseStore& store, DaemonMetrics& metrics) {
  if (auto* call = std::get_if<AcquireCall>(&decision)) co_return co_await acquire(std::move(*call), store, metrics);
  if (auto* call = std::get_if<RenewCall>(&decision)) co_return co_await renew(std::move(*call), store, metrics);
  if (auto* call = std::get_if<ReleaseCall>(&decision)) co_return co_await release(std::move(*call), store, metrics);
  if (auto* call = std::get_if<InspectCall>(&decision)) co_return co_await inspect(std::move(*call), store);
  co_return co_await list(std::get<ListCall>(std::move(decision)), store);
}

// Which counter a call feeds, known after the decision has been moved into the call.
enum class Counted { acquisition, renewal, release, none };

Counted counted_as(const Decision& decision) {
  if (std::holds_alternative<AcquireCall>(decision)) return Counted::acquisition;
  if (std::holds_alternative<RenewCall>(decision)) return Counted::renewal;
  if (std::holds_alternative<ReleaseCall>(decision)) return Counted::release;
  return Counted::none;
}

void count_backend_down(Counted counted, DaemonMetrics& metrics) {
  switch (counted) {
    case Counted::acquisition: metrics.count(lease::AcquireStatus::backend_down); break;
    case Counted::renewal: metrics.count(lease::RenewStatus::backend_down); break;
    case Counted::release: metrics.count(lease::ReleaseStatus::backend_down); break;
    case Counted::none: break;
  }
}

}  // namespace

Awaitable<Outcome> carry_out(Decision decision, lease::LeaseStore& store, DaemonMetrics& metrics) {
  if (auto* reply = std::get_if<Reply>(&decision)) co_return Outcome{std::move(*reply), std::nullopt};
  if (std::holds_alternative<MetricsCall>(decision))
    co_return Outcome{metrics_reply(metrics.prometheus_text()), std::nullopt};

  const Counted counted = counted_as(decision);
  std::string failure;
  bool backend_down = false;
  try {
    co_return co_await call_store(std::move(decision), store, metrics);
  } catch (const std::system_error& error) {
    // Stores report an unreachable backend in their results; inspect and list have no
    // such result and throw std::system_error instead.
    backend_down = true;
    failure = error.what();
  } catch (const std::exception& error) {
    failure = error.what();
  }
  if (backend_down) {
    count_backend_down(counted, metrics);
    spdlog::warn("lease store: {}", failure);
    co_return Outcome{backend_down_reply(failure), std::nullopt};
  }
  spdlog::error("lease store call failed: {}", failure);
  co_return Outcome{error_reply(http::status::internal_server_error, "internal_error", "the lease store failed"),
                    std::nullopt};
}

}  // namespace baton::lockd
