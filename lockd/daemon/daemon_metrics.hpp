// The counters baton-lockd keeps about itself, in Prometheus text format 0.0.4. Shared by
// the worker threads: relaxed atomic increments, read only by a scrape.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/lease/lease_store.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace baton::lockd {

class DaemonMetrics {
public:
  void count(lease::AcquireStatus result) noexcept;
  void count(lease::RenewStatus result) noexcept;
  void count(lease::ReleaseStatus result) noexcept;
  void count_response(http::status status) noexcept;  // by class: 2xx, 4xx, 5xx

  // Every series, also those still at zero, so that rate() works from the first scrape.
  std::string prometheus_text() const;

private:
  using Counter = std::atomic<std::uint64_t>;

  std::array<Counter, 4> acquisitions_{};
  std::array<Counter, 3> renewals_{};
  std::array<Counter, 3> releases_{};
  std::array<Counter, 5> responses_{};  // 1xx .. 5xx
};

}  // namespace baton::lockd
