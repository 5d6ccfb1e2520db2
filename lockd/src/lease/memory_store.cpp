#include "baton/lease/memory_store.hpp"

#include "baton/lease/token.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>

// The transitions mirror lockd/scripts/*.lua step for step, so that both stores behave
// alike; where this file differs from a script, a comment says why.

namespace baton::lease {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// An idle session (no lease, nobody in line) keeps its last fence and releasing instance
// this long, as the Redis store keeps its state key; then it is forgotten, so that the
// table does not grow with every session ever seen. A forgotten session's next fence
// comes from the clock, which is past its last one by then.
constexpr auto idle_state_retention = std::chrono::hours(1);
constexpr auto idle_sweep_interval = std::chrono::minutes(1);

std::uint64_t microseconds_since_epoch() {
  using std::chrono::microseconds;
  using std::chrono::system_clock;
  return static_cast<std::uint64_t>(
      duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

// The clock keeps fences increasing even for a session whose state was forgotten.
std::uint64_t next_fence(std::uint64_t last) {
  return std::max(last + 1, microseconds_since_epoch());
}

// As Redis PTTL reports it: at least 1 while the time has not passed.
milliseconds remaining_until(Clock::time_point at, Clock::time_point now) {
  return std::max(milliseconds(1), duration_cast<milliseconds>(at - now));
}

// A caller in a session's line. The line and the waiting acquire share it, so that a
// wake-up posted to a waiter that has gone meanwhile finds no timer and does nothing.
struct Waiter {
  Waiter(Executor executor_of_caller, std::string token_of_caller)
      : executor(std::move(executor_of_caller)), token(std::move(token_of_caller)) {}

  const Executor executor;
  const std::string token;               // also the lease's token once acquired
  Clock::time_point deadline;            // guarded by the table's mutex
  SteadyTimer* timer = nullptr;          // used on `executor` only; null once the acquire ended
};
using WaiterPtr = std::shared_ptr<Waiter>;

// Ends the waiter's sleep on its own thread, so that it looks again.
void wake(const WaiterPtr& waiter) {
  net::post(waiter->executor, [waiter] {
    if (waiter->timer != nullptr) waiter->timer->cancel();
  });
}

// A LeaseChanges feed as the table sees it: a flag set by each change, and a wake-up
// posted to the feed's thread for the first change since the feed last looked.
struct ChangeWatcher {
  explicit ChangeWatcher(Executor executor_of_feed) : executor(std::move(executor_of_feed)) {}

  const Executor executor;
  std::atomic<bool> changed{false};
  SteadyTimer* timer = nullptr;  // used on `executor` only; null once the feed is gone
};
using ChangeWatcherPtr = std::shared_ptr<ChangeWatcher>;

struct HeldLease {
  std::string token;
  std::string instance;
  std::string request_id;
  std::string route;
  std::uint64_t fence = 0;
  Clock::time_point since;
  Clock::time_point expires_at;
};

struct SessionState {
  std::optional<HeldLease> lease;
  std::deque<WaiterPtr> line;  // first come, first served
  std::uint64_t last_fence = 0;
  std::string last_instance;   // the last holder, recorded when granted: one that died never releases
  std::optional<Clock::time_point> last_release;
  Clock::time_point last_change;
};

// Applies what time did since the last look: an unrenewed lease ends, and waiters whose
// wait is over (gave up, or died without leaving) drop out of line. `keep` is the caller:
// as in acquire.lua, an attempt never drops its own place. Unlike the scripts, which
// prune in acquire only, this runs on every operation, so counts of waiters are exact.
void catch_up(SessionState& state, Clock::time_point now, const Waiter* keep = nullptr) {
  if (state.lease && state.lease->expires_at <= now) state.lease.reset();
  std::erase_if(state.line, [&](const WaiterPtr& waiter) {
    return waiter.get() != keep && waiter->deadline <= now;
  });
}

void wake_line(const SessionState& state) {
  for (const WaiterPtr& waiter : state.line) wake(waiter);
}

// Release and forced release: note when, and let the line look again.
void end_lease(SessionState& state, Clock::time_point now) {
  state.last_release = now;
  state.lease.reset();
  state.last_change = now;
  wake_line(state);
}

LeaseInfo describe(const std::string& session, const SessionState& state, Clock::time_point now) {
  const HeldLease& lease = *state.lease;
  return LeaseInfo{session,
                   lease.instance,
                   lease.request_id,
                   lease.route,
                   lease.fence,
                   duration_cast<milliseconds>(now - lease.since),
                   remaining_until(lease.expires_at, now),
                   state.line.size()};
}

bool is_idle(const SessionState& state) { return !state.lease && state.line.empty(); }

// What one attempt at a session's lease found.
struct AcquireAttempt {
  AcquireResult result;        // acquired, busy or too_many_waiters
  bool in_line = false;        // the caller holds a place in the session's line
  Clock::time_point retry_at;  // when busy: when to look again if nothing wakes the caller
};

}  // namespace

class MemoryLeaseTable {
public:
  // acquire.lua: takes the lease if it is free and the caller is first in line (or the
  // line is empty); otherwise, if the caller may still wait, puts it in line once.
  AcquireAttempt attempt(const LeaseRequest& request, const WaiterPtr& caller,
                         Clock::time_point wait_deadline);

  // leave.lua: the caller gives up its place; if it was first and the lease is free, the
  // others look again rather than wait for its deadline.
  void leave(const std::string& session, const WaiterPtr& caller);

  RenewStatus renew(const Lease& lease, core::Duration ttl);
  ReleaseStatus release(const Lease& lease);
  std::optional<LeaseInfo> inspect(const std::string& session);
  LeasePage list(const std::string& cursor, std::size_t limit);
  std::optional<LeaseInfo> force_release(const std::string& session);

  // Every change of who holds or waits, from now on, sets the watcher's flag (as the Redis
  // scripts publish on the events channel).
  void add_change_watcher(ChangeWatcherPtr watcher);
  void remove_change_watcher(const ChangeWatcher* watcher);

private:
  // The session's state as of `now`; null when the table has none.
  SessionState* find(const std::string& session, Clock::time_point now);
  SessionState* find_held(const Lease& lease, Clock::time_point now);
  AcquireAttempt grant(const LeaseRequest& request, SessionState& state, const WaiterPtr& caller,
                       Clock::time_point now);
  void forget_idle_sessions(Clock::time_point now);
  void notify_change();  // with the mutex held

  std::mutex mutex_;
  std::vector<ChangeWatcherPtr> change_watchers_;
  std::map<std::string, SessionState, std::less<>> sessions_;  // ordered: list() pages by id
  Clock::time_point last_sweep_ = Clock::now();
};

AcquireAttempt MemoryLeaseTable::attempt(const LeaseRequest& request, const WaiterPtr& caller,
                                         Clock::time_point wait_deadline) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  forget_idle_sessions(now);
  SessionState& state = sessions_[request.session];
  catch_up(state, now, caller.get());

  const WaiterPtr first = state.line.empty() ? nullptr : state.line.front();
  if (!state.lease && (first == nullptr || first == caller)) {
    return grant(request, state, caller, now);
  }

  AcquireAttempt attempt;
  // Nothing may wake the caller: the holder's TTL can run out, or, with the lease free
  // but others ahead, the first one's wait can end.
  attempt.retry_at = state.lease ? state.lease->expires_at : first->deadline;
  if (state.lease) {
    attempt.result.holder = Holder{state.lease->instance, state.lease->request_id, {}};
  }
  attempt.result.holder.remaining = remaining_until(attempt.retry_at, now);

  auto place = std::find(state.line.begin(), state.line.end(), caller);
  const bool may_wait = request.wait > core::Duration::zero() && now < wait_deadline;
  if (may_wait && place == state.line.end()) {
    if (state.line.size() >= request.max_waiters) {
      attempt.result.status = AcquireStatus::too_many_waiters;
      attempt.result.position = state.line.size();
      return attempt;
    }
    caller->deadline = wait_deadline;
    state.line.push_back(caller);
    state.last_change = now;
    notify_change();
    place = std::prev(state.line.end());
  }
  attempt.in_line = place != state.line.end();
  attempt.result.status = AcquireStatus::busy;
  attempt.result.position = static_cast<std::size_t>(place - state.line.begin());
  return attempt;
}

AcquireAttempt MemoryLeaseTable::grant(const LeaseRequest& request, SessionState& state,
                                       const WaiterPtr& caller, Clock::time_point now) {
  if (!state.line.empty() && state.line.front() == caller) state.line.pop_front();
  const std::uint64_t fence = next_fence(state.last_fence);
  state.last_fence = fence;
  state.lease = HeldLease{caller->token, request.instance, request.request_id, request.route,
                          fence, now, now + request.ttl};
  state.last_change = now;
  notify_change();

  AcquireAttempt attempt;
  attempt.result.status = AcquireStatus::acquired;
  Lease& lease = attempt.result.lease;
  lease.session = request.session;
  lease.token = caller->token;
  lease.fence = fence;
  lease.previous_instance = std::exchange(state.last_instance, request.instance);
  if (state.last_release) {
    lease.previous_release_age = duration_cast<milliseconds>(now - *state.last_release);
  }
  lease.ttl = request.ttl;
  return attempt;
}

void MemoryLeaseTable::leave(const std::string& session, const WaiterPtr& caller) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(session);
  if (found == sessions_.end()) return;
  SessionState& state = found->second;
  catch_up(state, now, caller.get());
  auto place = std::find(state.line.begin(), state.line.end(), caller);
  if (place == state.line.end()) return;
  const bool was_first = place == state.line.begin();
  state.line.erase(place);
  state.last_change = now;
  notify_change();
  if (was_first && !state.lease && !state.line.empty()) wake_line(state);
}

RenewStatus MemoryLeaseTable::renew(const Lease& lease, core::Duration ttl) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  SessionState* state = find_held(lease, now);
  if (state == nullptr) return RenewStatus::lost;
  state->lease->expires_at = now + ttl;
  return RenewStatus::renewed;
}

ReleaseStatus MemoryLeaseTable::release(const Lease& lease) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  SessionState* state = find_held(lease, now);
  if (state == nullptr) return ReleaseStatus::not_held;
  end_lease(*state, now);
  notify_change();
  return ReleaseStatus::released;
}

std::optional<LeaseInfo> MemoryLeaseTable::inspect(const std::string& session) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  SessionState* state = find(session, now);
  if (state == nullptr || !state->lease) return std::nullopt;
  return describe(session, *state, now);
}

LeasePage MemoryLeaseTable::list(const std::string& cursor, std::size_t limit) {
  const auto now = Clock::now();
  limit = std::max<std::size_t>(limit, 1);
  std::lock_guard lock(mutex_);
  forget_idle_sessions(now);
  LeasePage page;
  // Session ids are never empty, so an empty cursor starts at the first one.
  for (auto it = sessions_.upper_bound(cursor); it != sessions_.end(); ++it) {
    catch_up(it->second, now);
    if (!it->second.lease) continue;
    if (page.leases.size() == limit) {
      page.next_cursor = page.leases.back().session;
      break;
    }
    page.leases.push_back(describe(it->first, it->second, now));
  }
  return page;
}

std::optional<LeaseInfo> MemoryLeaseTable::force_release(const std::string& session) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  SessionState* state = find(session, now);
  if (state == nullptr || !state->lease) return std::nullopt;
  LeaseInfo ended = describe(session, *state, now);
  end_lease(*state, now);
  notify_change();
  return ended;
}

void MemoryLeaseTable::add_change_watcher(ChangeWatcherPtr watcher) {
  std::lock_guard lock(mutex_);
  change_watchers_.push_back(std::move(watcher));
}

void MemoryLeaseTable::remove_change_watcher(const ChangeWatcher* watcher) {
  std::lock_guard lock(mutex_);
  std::erase_if(change_watchers_, [watcher](const ChangeWatcherPtr& each) { return each.get() == watcher; });
}

// Only the first change since a watcher last looked posts a wake-up: a burst of changes
// costs its thread one.
void MemoryLeaseTable::notify_change() {
  for (const ChangeWatcherPtr& watcher : change_watchers_) {
    if (watcher->changed.exchange(true)) continue;
    net::post(watcher->executor, [watcher] {
      if (watcher->timer != nullptr) watcher->timer->cancel();
    });
  }
}

SessionState* MemoryLeaseTable::find(const std::string& session, Clock::time_point now) {
  auto found = sessions_.find(session);
  if (found == sessions_.end()) return nullptr;
  catch_up(found->second, now);
  return &found->second;
}

SessionState* MemoryLeaseTable::find_held(const Lease& lease, Clock::time_point now) {
  SessionState* state = find(lease.session, now);
  if (state == nullptr || !state->lease || state->lease->token != lease.token) return nullptr;
  return state;
}

// A full pass, at most once a minute and only when the table is in use: no timer.
void MemoryLeaseTable::forget_idle_sessions(Clock::time_point now) {
  if (now - last_sweep_ < idle_sweep_interval) return;
  last_sweep_ = now;
  const std::uint64_t now_us = microseconds_since_epoch();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    SessionState& state = it->second;
    catch_up(state, now);
    const bool forgotten = is_idle(state) && now - state.last_change >= idle_state_retention &&
                           state.last_fence < now_us;
    it = forgotten ? sessions_.erase(it) : std::next(it);
  }
}

namespace {

// One acquire's place in line and the timer it sleeps on. However the acquire ends, also
// by its coroutine being destroyed mid-wait (a worker stopped), the place is given up, so
// that the table stops posting wake-ups for it and no other waiter waits on it.
class PlaceInLine {
public:
  PlaceInLine(std::shared_ptr<MemoryLeaseTable> table, std::string session, Executor executor)
      : table_(std::move(table)),
        session_(std::move(session)),
        timer_(executor),
        waiter_(std::make_shared<Waiter>(executor, make_lease_token())) {
    waiter_->timer = &timer_;
  }

  PlaceInLine(const PlaceInLine&) = delete;
  PlaceInLine& operator=(const PlaceInLine&) = delete;

  ~PlaceInLine() {
    waiter_->timer = nullptr;
    if (in_line_) table_->leave(session_, waiter_);
  }

  AcquireAttempt attempt(const LeaseRequest& request, Clock::time_point wait_deadline) {
    AcquireAttempt attempt = table_->attempt(request, waiter_, wait_deadline);
    in_line_ = attempt.in_line;
    return attempt;
  }

  // Until `at`, or until a release, a forced release or a departure wakes the waiter.
  Awaitable<void> sleep_until(Clock::time_point at) {
    timer_.expires_at(at);
    boost::system::error_code woken;  // operation_aborted when woken: both mean "look again"
    co_await timer_.async_wait(net::redirect_error(use_awaitable, woken));
  }

private:
  std::shared_ptr<MemoryLeaseTable> table_;
  std::string session_;
  SteadyTimer timer_;
  WaiterPtr waiter_;
  bool in_line_ = false;
};

class MemoryLeaseChanges final : public LeaseChanges {
public:
  MemoryLeaseChanges(std::shared_ptr<MemoryLeaseTable> table, Executor executor)
      : table_(std::move(table)), timer_(executor), watcher_(std::make_shared<ChangeWatcher>(executor)) {
    watcher_->timer = &timer_;
    table_->add_change_watcher(watcher_);
  }

  MemoryLeaseChanges(const MemoryLeaseChanges&) = delete;
  MemoryLeaseChanges& operator=(const MemoryLeaseChanges&) = delete;

  ~MemoryLeaseChanges() override {
    watcher_->timer = nullptr;
    table_->remove_change_watcher(watcher_.get());
  }

  Awaitable<bool> wait_until(Clock::time_point deadline) override {
    for (;;) {
      if (cancelled_) co_return false;
      // Taken and cleared in one step: a change after it posts a new wake-up.
      if (watcher_->changed.exchange(false)) co_return true;
      if (Clock::now() >= deadline) co_return false;
      timer_.expires_at(deadline);
      boost::system::error_code woken;  // operation_aborted when woken: look again
      co_await timer_.async_wait(net::redirect_error(use_awaitable, woken));
    }
  }

  void cancel() override {
    cancelled_ = true;
    timer_.cancel();
  }

private:
  std::shared_ptr<MemoryLeaseTable> table_;
  SteadyTimer timer_;
  ChangeWatcherPtr watcher_;
  bool cancelled_ = false;
};

// A view of the shared table for one worker thread; waiters sleep and wake on it.
class MemoryLeaseStore final : public LeaseStore {
public:
  MemoryLeaseStore(std::shared_ptr<MemoryLeaseTable> table, Executor executor)
      : table_(std::move(table)), executor_(std::move(executor)) {}

  Awaitable<AcquireResult> acquire(LeaseRequest request) override {
    const auto started = Clock::now();
    const auto deadline = started + request.wait;
    PlaceInLine place(table_, request.session, executor_);
    AcquireAttempt attempt = place.attempt(request, deadline);
    bool waited_in_line = false;
    // As the Redis store: nothing is tried at or past the deadline. A caller still busy
    // then gets the position it last had; its place is given up as `place` goes out of
    // scope, before the caller sees the result.
    while (attempt.result.status == AcquireStatus::busy && Clock::now() < deadline) {
      co_await place.sleep_until(std::min(attempt.retry_at, deadline));
      if (Clock::now() >= deadline) break;
      attempt = place.attempt(request, deadline);
      waited_in_line = true;
    }
    attempt.result.after_waiting = waited_in_line && attempt.result.status == AcquireStatus::acquired;
    attempt.result.waited = duration_cast<core::Duration>(Clock::now() - started);
    co_return attempt.result;
  }

  Awaitable<RenewStatus> renew(Lease lease, core::Duration ttl) override {
    co_return table_->renew(lease, ttl);
  }

  Awaitable<ReleaseStatus> release(Lease lease) override { co_return table_->release(lease); }

  Awaitable<std::optional<LeaseInfo>> inspect(std::string session) override {
    co_return table_->inspect(session);
  }

  Awaitable<LeasePage> list(std::string cursor, std::size_t limit) override {
    co_return table_->list(cursor, limit);
  }

  Awaitable<std::optional<LeaseInfo>> force_release(std::string session) override {
    co_return table_->force_release(session);
  }

  Awaitable<LeaseChangesPtr> watch_changes() override {
    LeaseChangesPtr changes = std::make_unique<MemoryLeaseChanges>(table_, executor_);
    co_return changes;
  }

private:
  std::shared_ptr<MemoryLeaseTable> table_;
  Executor executor_;
};

}  // namespace

std::shared_ptr<MemoryLeaseTable> make_memory_lease_table() {
  return std::make_shared<MemoryLeaseTable>();
}

LeaseStorePtr make_memory_lease_store(std::shared_ptr<MemoryLeaseTable> table, Executor executor) {
  return std::make_unique<MemoryLeaseStore>(std::move(table), std::move(executor));
}

}  // namespace baton::lease
