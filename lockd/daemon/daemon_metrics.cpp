#include "daemon_metrics.hpp"

#include <algorithm>
#include <string_view>

namespace baton::lockd {
namespace {

using lease::AcquireStatus;
using lease::ReleaseStatus;
using lease::RenewStatus;

template <class Status>
struct Labelled {
  Status status;
  std::string_view label;
};

// Label values in counter order: counters are indexed by position in these tables.
constexpr std::array<Labelled<AcquireStatus>, 4> acquisition_results{{{AcquireStatus::acquired, "acquired"},
                                                                      {AcquireStatus::busy, "busy"},
                                                                      {AcquireStatus::too_many_waiters, "too_many_waiters"},
                                                                      {AcquireStatus::backend_down, "backend_down"}}};
constexpr std::array<Labelled<RenewStatus>, 3> renewal_results{
    {{RenewStatus::renewed, "renewed"}, {RenewStatus::lost, "lost"}, {RenewStatus::backend_down, "backend_down"}}};
constexpr std::array<Labelled<ReleaseStatus>, 3> release_results{{{ReleaseStatus::released, "released"},
                                                                  {ReleaseStatus::not_held, "not_held"},
                                                                  {ReleaseStatus::backend_down, "backend_down"}}};
constexpr std::array<std::string_view, 5> status_classes{"1xx", "2xx", "3xx", "4xx", "5xx"};

template <std::size_t N>
std::array<core::metrics::Counter*, N> by_label(core::metrics::Family<core::metrics::Counter>& family,
                                                const std::array<std::string_view, N>& labels) {
  std::array<core::metrics::Counter*, N> counters{};
  for (std::size_t i = 0; i < N; ++i) counters[i] = &family.with({std::string(labels[i])});
  return counters;
}

template <class Status, std::size_t N>
std::array<core::metrics::Counter*, N> by_result(core::metrics::Registry& registry, std::string_view name,
                                                 std::string_view help,
                                                 const std::array<Labelled<Status>, N>& results) {
  std::array<std::string_view, N> labels;
  std::transform(results.begin(), results.end(), labels.begin(), [](const auto& entry) { return entry.label; });
  return by_label(registry.counter(name, help, {"result"}), labels);
}

template <class Status, std::size_t N>
std::size_t index_of(const std::array<Labelled<Status>, N>& table, Status status) {
  return static_cast<std::size_t>(
      std::find_if(table.begin(), table.end(), [status](const auto& entry) { return entry.status == status; }) -
      table.begin());
}

template <std::size_t N>
void increment(const std::array<core::metrics::Counter*, N>& counters, std::size_t index) {
  if (index < N) counters[index]->inc();
}

}  // namespace

DaemonMetrics::DaemonMetrics()
    : acquisitions_(by_result(registry_, "baton_lockd_acquisitions_total",
                              "Acquire requests that reached the lease store, by result.", acquisition_results)),
      renewals_(by_result(registry_, "baton_lockd_renewals_total",
                          "Renew requests that reached the lease store, by result.", renewal_results)),
      releases_(by_result(registry_, "baton_lockd_releases_total",
                          "Release requests that reached the lease store, by result.", release_results)),
      responses_(by_label(registry_.counter("baton_lockd_http_responses_total",
                                            "HTTP responses sent, by status class.", {"code"}),
                          status_classes)) {}

void DaemonMetrics::count(AcquireStatus result) noexcept {
  increment(acquisitions_, index_of(acquisition_results, result));
}

void DaemonMetrics::count(RenewStatus result) noexcept { increment(renewals_, index_of(renewal_results, result)); }

void DaemonMetrics::count(ReleaseStatus result) noexcept { increment(releases_, index_of(release_results, result)); }

void DaemonMetrics::count_response(http::status status) noexcept {
  const auto code = static_cast<unsigned>(status);
  if (code >= 100 && code < 600) increment(responses_, code / 100 - 1);
}

std::string DaemonMetrics::prometheus_text() const { return registry_.prometheus_text(); }

}  // namespace baton::lockd
