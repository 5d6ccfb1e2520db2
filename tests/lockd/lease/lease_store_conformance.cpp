#include "lockd/lease/lease_store_conformance.hpp"

#include "baton/lease/token.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace baton::lease::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto long_wait = 20s;          // a waiter is served long before this runs out
constexpr auto drain_limit = 5s;         // for an instance's pending work when it ends
constexpr auto poll_interval = 1ms;      // of the test thread, watching a store

// Turns taken, in the order the lease was held.
class TurnLog {
public:
  void record(std::string turn) {
    std::lock_guard lock(mutex_);
    turns_.push_back(std::move(turn));
  }
  std::vector<std::string> turns() {
    std::lock_guard lock(mutex_);
    return turns_;
  }

private:
  std::mutex mutex_;
  std::vector<std::string> turns_;
};

// Waits for the lease, notes the turn while holding it, and hands it on.
Awaitable<void> take_turn(LeaseStore* store, LeaseRequest request, std::shared_ptr<TurnLog> log) {
  AcquireResult result = co_await store->acquire(request);
  if (result.status != AcquireStatus::acquired) {
    log->record("not acquired: " + request.request_id);
    co_return;
  }
  log->record(request.request_id);
  co_await store->release(result.lease);
}

std::future<void> start_turn(Instance& instance, LeaseRequest request,
                             std::shared_ptr<TurnLog> log) {
  return instance.start([store = &instance.store(), request = std::move(request), log] {
    return take_turn(store, request, log);
  });
}

Lease acquire_or_fail(Instance& instance, LeaseRequest request) {
  AcquireResult result = instance.acquire(std::move(request));
  REQUIRE(result.status == AcquireStatus::acquired);
  return result.lease;
}

}  // namespace

// --- Instance -------------------------------------------------------------------------

Instance::Instance(StoreUnderTest& backend, std::string id)
    : id_(std::move(id)), work_(io_.get_executor()), store_(backend.make_store(io_.get_executor())) {
  std::promise<void> stopped;
  stopped_ = stopped.get_future();
  thread_ = std::thread([this, stopped = std::move(stopped)]() mutable {
    io_.run();
    stopped.set_value();
  });
}

// The store goes on its own thread, with nothing left running on it; work that does not
// finish within drain_limit (a case that failed half-way) is stopped.
Instance::~Instance() {
  if (paused_) resume();
  net::post(io_, [this] {
    store_.reset();
    work_.reset();
  });
  if (stopped_.wait_for(drain_limit) == std::future_status::timeout) io_.stop();
  thread_.join();
}

LeaseRequest Instance::request(std::string session, core::Duration wait, core::Duration ttl) {
  LeaseRequest request;
  request.session = std::move(session);
  request.instance = id_;
  request.request_id = id_ + "-request-" + std::to_string(++requests_);
  request.route = "/conformance";
  request.ttl = ttl;
  request.wait = wait;
  return request;
}

std::future<AcquireResult> Instance::start_acquire(LeaseRequest request) {
  return start([store = store_.get(), request = std::move(request)] { return store->acquire(request); });
}

AcquireResult Instance::acquire(LeaseRequest request) { return get(start_acquire(std::move(request))); }

RenewStatus Instance::renew(const Lease& lease, core::Duration ttl) {
  return get(start([store = store_.get(), lease, ttl] { return store->renew(lease, ttl); }));
}

ReleaseStatus Instance::release(const Lease& lease) {
  return get(start([store = store_.get(), lease] { return store->release(lease); }));
}

std::optional<LeaseInfo> Instance::inspect(const std::string& session) {
  return get(start([store = store_.get(), session] { return store->inspect(session); }));
}

LeasePage Instance::list(const std::string& cursor, std::size_t limit) {
  return get(start([store = store_.get(), cursor, limit] { return store->list(cursor, limit); }));
}

std::optional<LeaseInfo> Instance::force_release(const std::string& session) {
  return get(start([store = store_.get(), session] { return store->force_release(session); }));
}

void Instance::pause() {
  REQUIRE(!paused_);
  paused_ = std::make_shared<std::promise<void>>();
  auto blocked = std::make_shared<std::promise<void>>();
  auto blocked_future = blocked->get_future();
  net::post(io_, [blocked, resumed = paused_->get_future()] {
    blocked->set_value();
    resumed.wait();
  });
  blocked_future.wait();
}

void Instance::resume() {
  paused_->set_value();
  paused_.reset();
}

// --- helpers --------------------------------------------------------------------------

std::string unique_session(std::string_view purpose) {
  return std::string(purpose) + "-" + make_lease_token().substr(0, 12);
}

void wait_for_waiters(Instance& instance, const std::string& session, std::size_t count) {
  const auto give_up = std::chrono::steady_clock::now() + result_limit;
  for (;;) {
    const std::optional<LeaseInfo> info = instance.inspect(session);
    if (info && info->waiters == count) return;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < give_up,
                    "session " << session << " never had " << count << " waiters");
    std::this_thread::sleep_for(poll_interval);
  }
}

// --- cases ----------------------------------------------------------------------------

void check_uncontended_acquire_and_release(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  const std::string session = unique_session("uncontended");

  const AcquireResult result = a.acquire(a.request(session));
  REQUIRE(result.status == AcquireStatus::acquired);
  CHECK(result.lease.session == session);
  CHECK(result.lease.fence > 0);
  CHECK(!result.lease.token.empty());
  CHECK(result.lease.previous_instance.empty());  // a session nobody held before
  CHECK(result.lease.previous_release_age.count() == -1);

  CHECK(a.release(result.lease) == ReleaseStatus::released);
  CHECK(!a.inspect(session).has_value());
  CHECK(a.release(result.lease) == ReleaseStatus::not_held);
}

void check_fences_increase_per_session(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string first = unique_session("fences-first");
  const std::string second = unique_session("fences-second");

  std::uint64_t last_first = 0;
  std::uint64_t last_second = 0;
  for (int round = 0; round < 10; ++round) {
    Instance& taker = round % 2 == 0 ? a : b;  // fences increase across instances too
    const Lease lease_first = acquire_or_fail(taker, taker.request(first));
    // Held at once: one session's lease never blocks another's.
    const Lease lease_second = acquire_or_fail(taker, taker.request(second));
    CHECK(lease_first.fence > last_first);
    CHECK(lease_second.fence > last_second);
    last_first = lease_first.fence;
    last_second = lease_second.fence;
    CHECK(taker.release(lease_first) == ReleaseStatus::released);
    CHECK(taker.release(lease_second) == ReleaseStatus::released);
  }
}

void check_busy_without_waiting(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("busy");
  const LeaseRequest held_request = a.request(session);
  const Lease held = acquire_or_fail(a, held_request);

  const AcquireResult result = b.acquire(b.request(session));
  CHECK(result.status == AcquireStatus::busy);
  CHECK(result.holder.instance == "instance-a");
  CHECK(result.holder.request_id == held_request.request_id);
  CHECK(result.holder.remaining > 0ms);
  CHECK(result.holder.remaining <= held_request.ttl);
  CHECK(result.position == 0);  // nobody in line
  CHECK(a.inspect(session)->waiters == 0);  // not waiting: not in line either

  CHECK(a.release(held) == ReleaseStatus::released);
}

void check_waiter_takes_released_lease(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("handoff");
  const Lease held = acquire_or_fail(a, a.request(session));

  // The holder's TTL outlasts the wait: only the release can let the waiter in.
  const LeaseRequest waiting = b.request(session, long_wait);
  auto waiter = b.start_acquire(waiting);
  wait_for_waiters(a, session, 1);
  CHECK(a.release(held) == ReleaseStatus::released);

  const AcquireResult result = get(std::move(waiter));
  REQUIRE(result.status == AcquireStatus::acquired);
  CHECK(result.waited < waiting.wait);
  CHECK(result.lease.fence > held.fence);
  CHECK(result.lease.previous_instance == "instance-a");
  CHECK(result.lease.previous_release_age >= 0ms);
  CHECK(b.release(result.lease) == ReleaseStatus::released);
}

void check_waiters_served_in_arrival_order(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("fifo");
  const Lease held = acquire_or_fail(a, a.request(session));

  auto log = std::make_shared<TurnLog>();
  std::vector<std::string> arrivals;
  std::vector<std::future<void>> turns;
  for (std::size_t i = 0; i < 3; ++i) {
    Instance& waiter = i % 2 == 0 ? b : a;  // the line spans both instances
    LeaseRequest request = waiter.request(session, long_wait);
    arrivals.push_back(request.request_id);
    turns.push_back(start_turn(waiter, std::move(request), log));
    wait_for_waiters(a, session, i + 1);
  }
  CHECK(a.release(held) == ReleaseStatus::released);

  for (auto& turn : turns) get(std::move(turn));
  CHECK(log->turns() == arrivals);
}

void check_wait_runs_out(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("wait-runs-out");
  const LeaseRequest held_request = a.request(session);
  const Lease held = acquire_or_fail(a, held_request);

  auto first_waiter = b.start_acquire(b.request(session, long_wait));
  wait_for_waiters(a, session, 1);

  const LeaseRequest short_wait = a.request(session, 300ms);
  auto second_waiter = a.start_acquire(short_wait);
  wait_for_waiters(a, session, 2);
  const AcquireResult result = get(std::move(second_waiter));
  CHECK(result.status == AcquireStatus::busy);
  CHECK(result.position == 1);  // behind the first waiter
  CHECK(result.holder.instance == "instance-a");
  CHECK(result.holder.request_id == held_request.request_id);
  CHECK(result.waited >= short_wait.wait);  // it does not give up before its deadline
  CHECK(a.inspect(session)->waiters == 1);  // it left the line

  CHECK(a.release(held) == ReleaseStatus::released);
  const AcquireResult first = get(std::move(first_waiter));
  REQUIRE(first.status == AcquireStatus::acquired);
  CHECK(b.release(first.lease) == ReleaseStatus::released);
}

void check_full_line_turns_waiters_away(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("max-waiters");
  const Lease held = acquire_or_fail(a, a.request(session));

  LeaseRequest first_request = b.request(session, long_wait);
  first_request.max_waiters = 1;
  auto first_waiter = b.start_acquire(first_request);
  wait_for_waiters(a, session, 1);

  LeaseRequest turned_away = a.request(session, long_wait);
  turned_away.max_waiters = 1;
  const AcquireResult result = a.acquire(turned_away);
  CHECK(result.status == AcquireStatus::too_many_waiters);
  CHECK(result.holder.instance == "instance-a");
  CHECK(result.waited < turned_away.wait);  // at once, not at the end of its wait

  // A caller that does not wait takes no place in line, so a full line is just busy.
  LeaseRequest no_wait = a.request(session);
  no_wait.max_waiters = 1;
  CHECK(a.acquire(no_wait).status == AcquireStatus::busy);
  CHECK(a.inspect(session)->waiters == 1);

  CHECK(a.release(held) == ReleaseStatus::released);
  const AcquireResult first = get(std::move(first_waiter));
  REQUIRE(first.status == AcquireStatus::acquired);
  CHECK(b.release(first.lease) == ReleaseStatus::released);
}

void check_no_wait_caller_never_jumps_line(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("no-jump");
  const Lease held = acquire_or_fail(a, a.request(session));

  auto waiter = b.start_acquire(b.request(session, long_wait));
  wait_for_waiters(a, session, 1);
  // A paused waiter cannot take the lease it is woken for: it is free, yet not for
  // whoever comes by.
  b.pause();
  CHECK(a.release(held) == ReleaseStatus::released);
  const AcquireResult result = a.acquire(a.request(session));
  CHECK(result.status == AcquireStatus::busy);
  CHECK(result.holder.instance.empty());  // nobody holds it
  CHECK(result.position == 1);            // the length of the line it did not join
  b.resume();

  const AcquireResult served = get(std::move(waiter));
  REQUIRE(served.status == AcquireStatus::acquired);
  CHECK(served.lease.previous_instance == "instance-a");
  CHECK(b.release(served.lease) == ReleaseStatus::released);
}

void check_unrenewed_lease_expires(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("ttl");
  // Long enough to see the waiter in line before it runs out.
  const auto ttl = 1s;
  const auto before_acquire = std::chrono::steady_clock::now();
  const Lease held = acquire_or_fail(a, a.request(session, 0ms, ttl));

  // Nobody releases: the waiter gets in when the TTL runs out.
  const LeaseRequest waiting = b.request(session, long_wait);
  auto waiter = b.start_acquire(waiting);
  wait_for_waiters(a, session, 1);
  const AcquireResult result = get(std::move(waiter));
  REQUIRE(result.status == AcquireStatus::acquired);
  CHECK(result.waited < waiting.wait);  // it looked again when the TTL ran out
  // A crashed holder's lease is not taken before its TTL. The margin covers stores
  // whose clock counts whole milliseconds (Redis).
  CHECK(std::chrono::steady_clock::now() - before_acquire >= ttl - 2ms);
  CHECK(result.lease.fence > held.fence);

  CHECK(a.renew(held, 10s) == RenewStatus::lost);
  CHECK(a.release(held) == ReleaseStatus::not_held);
  CHECK(a.inspect(session)->instance == "instance-b");
  CHECK(b.release(result.lease) == ReleaseStatus::released);
}

void check_renewal_keeps_lease(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("renew");
  const auto ttl = 500ms;
  const auto acquired_at = std::chrono::steady_clock::now();
  const Lease held = acquire_or_fail(a, a.request(session, 0ms, ttl));

  // Renewed ten times per TTL, for three TTLs.
  while (std::chrono::steady_clock::now() - acquired_at < 3 * ttl) {
    std::this_thread::sleep_for(ttl / 10);
    REQUIRE(a.renew(held, ttl) == RenewStatus::renewed);
  }
  const std::optional<LeaseInfo> info = a.inspect(session);
  REQUIRE(info.has_value());
  CHECK(info->fence == held.fence);
  CHECK(info->remaining <= ttl);
  CHECK(b.acquire(b.request(session)).status == AcquireStatus::busy);
  CHECK(a.release(held) == ReleaseStatus::released);
}

void check_lost_lease_stays_lost(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");

  SUBCASE("expired") {
    const std::string session = unique_session("lost-expired");
    const Lease held = acquire_or_fail(a, a.request(session, 0ms, 200ms));
    const auto give_up = std::chrono::steady_clock::now() + result_limit;
    while (a.inspect(session).has_value()) {
      REQUIRE(std::chrono::steady_clock::now() < give_up);
      std::this_thread::sleep_for(10ms);
    }
    CHECK(a.renew(held, 10s) == RenewStatus::lost);
    CHECK(a.release(held) == ReleaseStatus::not_held);
  }

  SUBCASE("forced away, and taken by another") {
    const std::string session = unique_session("lost-forced");
    const Lease held = acquire_or_fail(a, a.request(session));
    REQUIRE(a.force_release(session).has_value());
    CHECK(a.renew(held, 10s) == RenewStatus::lost);
    const Lease taken = acquire_or_fail(b, b.request(session));
    // The old token neither renews nor ends the new holder's lease.
    CHECK(a.renew(held, 10s) == RenewStatus::lost);
    CHECK(a.release(held) == ReleaseStatus::not_held);
    const std::optional<LeaseInfo> info = a.inspect(session);
    REQUIRE(info.has_value());
    CHECK(info->fence == taken.fence);
    CHECK(b.release(taken) == ReleaseStatus::released);
  }
}

void check_force_release(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("force");
  const LeaseRequest held_request = a.request(session);
  const Lease held = acquire_or_fail(a, held_request);

  auto waiter = b.start_acquire(b.request(session, long_wait));
  wait_for_waiters(a, session, 1);
  const std::optional<LeaseInfo> ended = a.force_release(session);
  REQUIRE(ended.has_value());
  CHECK(ended->session == session);
  CHECK(ended->instance == "instance-a");
  CHECK(ended->request_id == held_request.request_id);
  CHECK(ended->route == held_request.route);
  CHECK(ended->fence == held.fence);
  CHECK(ended->waiters == 1);

  const AcquireResult served = get(std::move(waiter));
  REQUIRE(served.status == AcquireStatus::acquired);
  CHECK(served.lease.previous_instance == "instance-a");
  const std::optional<LeaseInfo> now_held = a.inspect(session);
  REQUIRE(now_held.has_value());
  CHECK(now_held->instance == "instance-b");
  CHECK(now_held->fence == served.lease.fence);

  CHECK(b.release(served.lease) == ReleaseStatus::released);
  CHECK(!a.force_release(session).has_value());  // nothing left to end
}

void check_list_pages(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string prefix = unique_session("list");
  std::map<std::string, Lease> held;
  for (int i = 0; i < 5; ++i) {
    Instance& taker = i % 2 == 0 ? a : b;
    const std::string session = prefix + "-" + std::to_string(i);
    held[session] = acquire_or_fail(taker, taker.request(session));
  }

  // Pages as a client walks them. A shared backend may list other cases' leases too, and
  // a SCAN-based one may repeat a lease across pages: only ours are counted.
  const auto walk = [&](std::size_t limit) {
    std::map<std::string, int> seen;
    std::string cursor;
    // SCAN walks the whole keyspace a few keys at a time: many pages, most of them empty.
    for (int page_count = 0; page_count < 100'000; ++page_count) {
      const LeasePage page = a.list(cursor, limit);
      for (const LeaseInfo& info : page.leases) {
        const auto lease = held.find(info.session);
        if (lease == held.end()) continue;
        ++seen[info.session];
        CHECK(info.fence == lease->second.fence);
        CHECK(!info.instance.empty());
      }
      cursor = page.next_cursor;
      if (cursor.empty()) return seen;
    }
    FAIL("list never returned an empty cursor");
    return seen;
  };

  std::map<std::string, int> seen = walk(2);
  CHECK(seen.size() == held.size());

  const auto released = held.begin();
  CHECK(a.release(released->second) == ReleaseStatus::released);
  const std::string released_session = released->first;
  held.erase(released);
  seen = walk(2);
  CHECK(seen.size() == held.size());
  CHECK(seen.count(released_session) == 0);

  for (const auto& [session, lease] : held) CHECK(a.release(lease) == ReleaseStatus::released);
}

// --- changes --------------------------------------------------------------------------

namespace {

// A feed opened on an instance's thread, reachable from the test thread for cancel().
struct OpenFeed {
  LeaseChangesPtr changes;
  std::promise<void> opened;
};

// Opens a feed, says so, and waits on it once for up to `limit`.
Awaitable<bool> wait_on_feed(LeaseStore* store, std::shared_ptr<OpenFeed> feed,
                             std::chrono::steady_clock::duration limit) {
  feed->changes = co_await store->watch_changes();
  feed->opened.set_value();
  const bool changed = co_await feed->changes->wait_until(std::chrono::steady_clock::now() + limit);
  feed->changes.reset();
  co_return changed;
}

struct Woken {
  bool changed = false;
  std::chrono::steady_clock::duration after{};  // the change was made this long before
};

// Makes `change` on the test thread once a feed is open on `watcher`.
template <class Change>
Woken watch_while(Instance& watcher, std::chrono::steady_clock::duration limit, Change change) {
  auto feed = std::make_shared<OpenFeed>();
  auto opened = feed->opened.get_future();
  auto waited = watcher.start([store = &watcher.store(), feed, limit] { return wait_on_feed(store, feed, limit); });
  REQUIRE(opened.wait_for(result_limit) == std::future_status::ready);
  const auto changed_at = std::chrono::steady_clock::now();
  change();
  const bool changed = get(std::move(waited));
  return {changed, std::chrono::steady_clock::now() - changed_at};
}

}  // namespace

void check_changes_wake_watchers(StoreUnderTest& backend) {
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("changes");
  // Far beyond a wake-up's time: a feed that sleeps until its deadline fails the case.
  const auto limit = std::chrono::steady_clock::duration(10s);
  const auto woken = [](const Woken& result) { return result.changed && result.after < 5s; };

  // Nothing happens: the feed stays quiet. (One opened before the store's connection is up
  // says "look again" once it is: what happened meanwhile went unseen.)
  const bool quiet = !watch_while(a, 100ms, [] {}).changed || !watch_while(a, 100ms, [] {}).changed;
  CHECK(quiet);

  Lease held;
  CHECK(woken(watch_while(a, limit, [&] { held = acquire_or_fail(b, b.request(session)); })));

  // A caller joins the line on the other instance.
  std::future<AcquireResult> waiter;
  CHECK(woken(watch_while(a, limit, [&] { waiter = b.start_acquire(b.request(session, long_wait)); })));
  wait_for_waiters(a, session, 1);

  // The release hands the lease to the waiter.
  CHECK(woken(watch_while(a, limit, [&] { CHECK(b.release(held) == ReleaseStatus::released); })));
  const AcquireResult served = get(std::move(waiter));
  REQUIRE(served.status == AcquireStatus::acquired);

  // A caller whose wait runs out leaves the line.
  CHECK(woken(watch_while(a, limit, [&] { CHECK(b.acquire(b.request(session, 200ms)).status == AcquireStatus::busy); })));

  CHECK(woken(watch_while(a, limit, [&] { CHECK(b.force_release(session).has_value()); })));
  CHECK(b.release(served.lease) == ReleaseStatus::not_held);

  // cancel() ends a wait at once.
  auto feed = std::make_shared<OpenFeed>();
  auto opened = feed->opened.get_future();
  auto waited = a.start([store = &a.store(), feed, limit] { return wait_on_feed(store, feed, limit); });
  REQUIRE(opened.wait_for(result_limit) == std::future_status::ready);
  const auto cancelled_at = std::chrono::steady_clock::now();
  net::post(a.executor(), [feed] { feed->changes->cancel(); });
  CHECK_FALSE(get(std::move(waited)));
  CHECK(std::chrono::steady_clock::now() - cancelled_at < 5s);
}

// --- contention -----------------------------------------------------------------------

namespace {

// One turn in a critical section, on a clock that all threads share.
struct Visit {
  std::size_t session = 0;
  std::uint64_t fence = 0;
  std::uint64_t enter = 0;
  std::uint64_t exit = 0;
};

struct Hammering {
  std::vector<Visit> visits;
  int failures = 0;  // acquisitions or releases that did not succeed
};

// Takes and releases the sessions' leases one after another, `rounds` times, staying
// inside across a yield so that a broken lock lets others in.
Awaitable<Hammering> hammer(LeaseStore* store, LeaseRequest request,
                            std::vector<std::string> sessions, std::size_t first_session,
                            int rounds, std::shared_ptr<std::atomic<std::uint64_t>> clock) {
  const Executor executor = co_await net::this_coro::executor;
  Hammering result;
  for (int round = 0; round < rounds; ++round) {
    const std::size_t session = (first_session + static_cast<std::size_t>(round)) % sessions.size();
    request.session = sessions[session];
    const AcquireResult acquired = co_await store->acquire(request);
    if (acquired.status != AcquireStatus::acquired) {
      ++result.failures;
      continue;
    }
    Visit visit{session, acquired.lease.fence, clock->fetch_add(1), 0};
    co_await net::post(executor, use_awaitable);
    visit.exit = clock->fetch_add(1);
    result.visits.push_back(visit);
    if (co_await store->release(acquired.lease) != ReleaseStatus::released) ++result.failures;
  }
  co_return result;
}

// Per session, in order of entry: each visit ends before the next begins, and fences
// increase.
void check_history(std::vector<Visit> visits) {
  std::sort(visits.begin(), visits.end(), [](const Visit& left, const Visit& right) {
    return std::tie(left.session, left.enter) < std::tie(right.session, right.enter);
  });
  int overlaps = 0;
  int fence_inversions = 0;
  for (std::size_t i = 1; i < visits.size(); ++i) {
    const Visit& previous = visits[i - 1];
    const Visit& next = visits[i];
    if (previous.session != next.session) continue;
    if (previous.exit >= next.enter) ++overlaps;
    if (previous.fence >= next.fence) ++fence_inversions;
  }
  CHECK(overlaps == 0);
  CHECK(fence_inversions == 0);
}

}  // namespace

void check_mutual_exclusion_under_contention(StoreUnderTest& backend) {
  constexpr int workers_per_instance = 4;
  constexpr int rounds = 250;  // 2 instances x 4 workers x 250 = 2000 acquisitions
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::vector<std::string> sessions = {unique_session("contended-0"),
                                             unique_session("contended-1"),
                                             unique_session("contended-2")};
  auto clock = std::make_shared<std::atomic<std::uint64_t>>(0);

  std::vector<std::future<Hammering>> running;
  for (int worker = 0; worker < 2 * workers_per_instance; ++worker) {
    Instance& instance = worker % 2 == 0 ? a : b;
    LeaseRequest request = instance.request(sessions.front(), long_wait, long_wait);
    const auto first_session = static_cast<std::size_t>(worker) % sessions.size();
    running.push_back(instance.start([store = &instance.store(), request, sessions, first_session,
                                      clock] {
      return hammer(store, request, sessions, first_session, rounds, clock);
    }));
  }

  std::vector<Visit> history;
  int failures = 0;
  for (auto& worker : running) {
    Hammering result = get(std::move(worker));
    history.insert(history.end(), result.visits.begin(), result.visits.end());
    failures += result.failures;
  }
  CHECK(failures == 0);
  CHECK(history.size() == 2 * workers_per_instance * rounds);
  check_history(std::move(history));
}

}  // namespace baton::lease::testing
