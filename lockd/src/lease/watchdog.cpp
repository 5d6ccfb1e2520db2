#include "baton/lease/watchdog.hpp"

#include <unordered_map>

namespace baton::lease {

struct Watchdog::State : std::enable_shared_from_this<State> {
  struct Entry {
    Lease lease;
    OnEnd on_end;
    Clock::time_point acquired;
    Clock::time_point next_renewal;
  };

  State(Executor executor_in, LeaseStore& store_in, core::Duration max_hold_in)
      : executor(executor_in), store(store_in), max_hold(max_hold_in), timer(executor_in) {}

  Executor executor;
  LeaseStore& store;
  core::Duration max_hold;
  SteadyTimer timer;
  std::unordered_map<std::uint64_t, Entry> entries;
  std::uint64_t next_id = 1;
  Counts counts;
  bool timer_armed = false;
  Clock::time_point armed_for = Clock::time_point::max();

  // Renewal at a third of the TTL leaves two more chances before it expires; max_hold
  // is checked at its own time, not at the next renewal after it.
  Clock::time_point next_check(const Entry& entry, Clock::time_point now) const {
    return std::min(now + entry.lease.ttl / 3, entry.acquired + max_hold);
  }

  // One timer for the thread, set for the earliest renewal due.
  void arm() {
    Clock::time_point earliest = Clock::time_point::max();
    for (const auto& [id, entry] : entries) earliest = std::min(earliest, entry.next_renewal);
    arm_for(earliest);
  }

  // Sets the timer for `at` unless it is set for earlier already: a new lease's first
  // renewal is almost always later than the earliest one due, so watching a lease costs
  // no scan and no re-arming.
  void arm_for(Clock::time_point earliest) {
    if (earliest == Clock::time_point::max() || (timer_armed && armed_for <= earliest)) return;
    timer_armed = true;
    armed_for = earliest;
    timer.expires_at(earliest);
    timer.async_wait([self = shared_from_this()](const beast::error_code& error) {
      if (error == net::error::operation_aborted) return;
      self->timer_armed = false;
      self->armed_for = Clock::time_point::max();
      self->run_round();
    });
  }

  // Renews every lease that is due now; all renewals start before any completes.
  void run_round() {
    const auto now = Clock::now();
    for (auto& [id, entry] : entries) {
      if (entry.next_renewal > now) continue;
      if (now - entry.acquired >= max_hold) {
        net::co_spawn(executor, end_at_max_hold(shared_from_this(), id), net::detached);
        continue;
      }
      entry.next_renewal = next_check(entry, now);
      net::co_spawn(executor, renew(shared_from_this(), id), net::detached);
    }
    arm();
  }

  // Removes the entry and runs its owner's callback once.
  void end(std::uint64_t id, LeaseEnd how) {
    auto found = entries.find(id);
    if (found == entries.end()) return;
    OnEnd on_end = std::move(found->second.on_end);
    entries.erase(found);
    if (on_end) on_end(how);
  }

  static Awaitable<void> renew(std::shared_ptr<State> self, std::uint64_t id) {
    auto found = self->entries.find(id);
    if (found == self->entries.end()) co_return;
    const Lease lease = found->second.lease;
    ++self->counts.renewals;
    const RenewStatus status = co_await self->store.renew(lease, lease.ttl);
    if (status == RenewStatus::lost) {
      ++self->counts.lost;
      spdlog::warn("lease of session {} lost: a renewal found it expired or forced away",
                   lease.session);
      self->end(id, LeaseEnd::lost);
    }
    // backend_down: the next round tries again; if Redis stays away longer than the TTL
    // the lease expires there, and the first renewal after that reports it lost.
  }

  static Awaitable<void> end_at_max_hold(std::shared_ptr<State> self, std::uint64_t id) {
    auto found = self->entries.find(id);
    if (found == self->entries.end()) co_return;
    const Lease lease = found->second.lease;
    spdlog::warn("lease of session {} held for max_hold ({} ms): releasing it", lease.session,
                 self->max_hold.count());
    ++self->counts.max_hold;
    self->end(id, LeaseEnd::max_hold);
    co_await self->store.release(lease);
  }
};

Watchdog::Watchdog(Executor executor, LeaseStore& store, core::Duration max_hold)
    : state_(std::make_shared<State>(executor, store, max_hold)) {}

Watchdog::~Watchdog() { state_->timer.cancel(); }

std::uint64_t Watchdog::watch(const Lease& lease, OnEnd on_end) {
  const auto now = Clock::now();
  const std::uint64_t id = state_->next_id++;
  State::Entry entry{lease, std::move(on_end), now, now};
  entry.next_renewal = state_->next_check(entry, now);
  const auto first_check = entry.next_renewal;
  state_->entries.emplace(id, std::move(entry));
  state_->arm_for(first_check);
  return id;
}

void Watchdog::unwatch(std::uint64_t id) { state_->entries.erase(id); }

std::vector<Lease> Watchdog::unwatch_all() {
  std::vector<Lease> leases;
  for (auto& [id, entry] : state_->entries) leases.push_back(std::move(entry.lease));
  state_->entries.clear();
  return leases;
}

const Watchdog::Counts& Watchdog::counts() const { return state_->counts; }

}  // namespace baton::lease
