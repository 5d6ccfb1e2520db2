// The metrics baton-lockd keeps about itself, in Prometheus text format 0.0.4. Shared by
// the worker threads; every series is registered up front, so counting takes no lock.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/metrics.hpp"
#include "baton/lease/lease_store.hpp"

#include <array>
#include <string>

namespace baton::lockd {

class DaemonMetrics {
public:
  DaemonMetrics();

  void count(lease::AcquireStatus result) noexcept;
  void count(lease::RenewStatus result) noexcept;
  void count(lease::ReleaseStatus result) noexcept;
  void count_response(http::status status) noexcept;  // by class: 2xx, 4xx, 5xx

  // Every series, also those still at zero, so that rate() works from the first scrape.
  std::string prometheus_text() const;

  // For more metrics of the daemon (register them at setup, see metrics.hpp).
  core::metrics::Registry& registry() noexcept { return registry_; }

private:
  using Counter = core::metrics::Counter;

  core::metrics::Registry registry_;
  std::array<Counter*, 4> acquisitions_{};
  std::array<Counter*, 3> renewals_{};
  std::array<Counter*, 3> releases_{};
  std::array<Counter*, 5> responses_{};  // 1xx .. 5xx
};

}  // namespace baton::lockd
