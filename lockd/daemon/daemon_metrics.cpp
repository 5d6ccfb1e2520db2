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

template <class Status, std::size_t N>
std::size_t index_of(const std::array<Labelled<Status>, N>& table, Status status) {
  return static_cast<std::size_t>(
      std::find_if(table.begin(), table.end(), [status](const auto& entry) { return entry.status == status; }) -
      table.begin());
}

template <std::size_t N>
void increment(std::array<std::atomic<std::uint64_t>, N>& counters, std::size_t index) {
  if (index < N) counters[index].fetch_add(1, std::memory_order_relaxed);
}

void write_header(std::string& out, std::string_view name, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" counter\n");
}

void write_sample(std::string& out, std::string_view name, std::string_view label, std::string_view value,
                  std::uint64_t count) {
  out.append(name).append("{").append(label).append("=\"").append(value).append("\"} ");
  out.append(std::to_string(count)).append("\n");
}

template <class Status, std::size_t N>
void write_counter(std::string& out, std::string_view name, std::string_view help,
                   const std::array<Labelled<Status>, N>& labels,
                   const std::array<std::atomic<std::uint64_t>, N>& counters) {
  write_header(out, name, help);
  for (std::size_t i = 0; i < N; ++i)
    write_sample(out, name, "result", labels[i].label, counters[i].load(std::memory_order_relaxed));
}

}  // namespace

void DaemonMetrics::count(AcquireStatus result) noexcept {
  increment(acquisitions_, index_of(acquisition_results, result));
}

void DaemonMetrics::count(RenewStatus result) noexcept { increment(renewals_, index_of(renewal_results, result)); }

void DaemonMetrics::count(ReleaseStatus result) noexcept { increment(releases_, index_of(release_results, result)); }

void DaemonMetrics::count_response(http::status status) noexcept {
  const auto code = static_cast<unsigned>(status);
  if (code >= 100 && code < 600) increment(responses_, code / 100 - 1);
}

std::string DaemonMetrics::prometheus_text() const {
  std::string out;
  write_counter(out, "baton_lockd_acquisitions_total", "Acquire requests that reached the lease store, by result.",
                acquisition_results, acquisitions_);
  write_counter(out, "baton_lockd_renewals_total", "Renew requests that reached the lease store, by result.",
                renewal_results, renewals_);
  write_counter(out, "baton_lockd_releases_total", "Release requests that reached the lease store, by result.",
                release_results, releases_);
  constexpr std::string_view responses = "baton_lockd_http_responses_total";
  write_header(out, responses, "HTTP responses sent, by status class.");
  for (std::size_t i = 0; i < status_classes.size(); ++i)
    write_sample(out, responses, "code", status_classes[i], responses_[i].load(std::memory_order_relaxed));
  return out;
}

}  // namespace baton::lockd
