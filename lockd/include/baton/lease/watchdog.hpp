// Keeps the leases held by one worker thread alive while their owners work: every held
// lease is renewed at a third of its TTL (the renewals of one round are issued together,
// so the Redis client writes them as one pipelined batch), a lease is ended at max_hold
// whatever happens, and the owner is told when a renewal finds its lease gone.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/lease/lease_store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace baton::lease {

enum class LeaseEnd {
  lost,      // a renewal found the lease expired or forced away
  max_hold,  // held for max_hold: the watchdog released it
};

class Watchdog {
public:
  using OnEnd = std::function<void(LeaseEnd)>;

  Watchdog(Executor executor, LeaseStore& store, core::Duration max_hold);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Watches `lease` until unwatch(id). `on_end` runs on the watchdog's executor, at most once.
  std::uint64_t watch(const Lease& lease, OnEnd on_end);
  void unwatch(std::uint64_t id);
  // Stops watching every lease and returns them, for the caller to release (shutdown).
  std::vector<Lease> unwatch_all();

  // Counters since start, for metrics: renewals sent, leases found lost, leases ended at
  // max_hold.
  struct Counts {
    std::uint64_t renewals = 0;
    std::uint64_t lost = 0;
    std::uint64_t max_hold = 0;
  };
  const Counts& counts() const;

private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace baton::lease
