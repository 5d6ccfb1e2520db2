// One behavioural suite for every LeaseStore backend: what users rely on (DESIGN.md
// promises 1, 2, 5 and 6), written once against the interface.
//
// A backend's test file adds the whole suite, at global scope, with
//
//   class RedisBackend final : public baton::lease::testing::StoreUnderTest { ... };
//   BATON_LEASE_STORE_CONFORMANCE("redis", RedisBackend)
//
// Each case is then registered as "lease store: <case><redis>": its own ctest entry per
// backend. Every case makes a fresh backend object (default-constructed) and one or two
// Instances on it; the two-instance cases play two batons sharing one store.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/lease/lease_store.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace baton::lease::testing {

// The backend under test. The stores one object makes share their leases, as the batons
// that use one Redis do; separate objects must not see each other's leases (a Redis
// backend gives each its own key prefix).
class StoreUnderTest {
public:
  virtual ~StoreUnderTest() = default;

  // A store for the worker thread that will run `executor`. Called on the test thread,
  // before that thread starts; the store is destroyed on the worker thread.
  virtual LeaseStorePtr make_store(Executor executor) = 0;
};

// How long the test thread waits for any one result before it calls the case hung.
inline constexpr auto result_limit = std::chrono::seconds(30);

// The result of a future, failing the case when it takes longer than result_limit.
template <class T>
T get(std::future<T> future) {
  REQUIRE_MESSAGE(future.wait_for(result_limit) == std::future_status::ready,
                  "no result within " << result_limit.count() << " s");
  return future.get();
}

// One baton instance: a worker thread running its own io_context, with a store of the
// backend on it. The test thread drives it through the blocking helpers, or starts
// coroutines on it with start().
class Instance {
public:
  Instance(StoreUnderTest& backend, std::string id);
  ~Instance();

  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::string& id() const { return id_; }
  LeaseStore& store() { return *store_; }
  Executor executor() { return io_.get_executor(); }

  // A request from this instance, with a request id unique to it.
  LeaseRequest request(std::string session, core::Duration wait = core::Duration::zero(),
                       core::Duration ttl = std::chrono::seconds(60));

  // Runs the coroutine that `make_work()` returns on the worker thread. make_work is
  // called there too, so the coroutine starts on its own thread.
  template <class MakeWork>
  auto start(MakeWork make_work) {
    return net::co_spawn(io_.get_executor(), std::move(make_work), net::use_future);
  }

  std::future<AcquireResult> start_acquire(LeaseRequest request);

  // The store's operations, waited for on the test thread.
  AcquireResult acquire(LeaseRequest request);
  RenewStatus renew(const Lease& lease, core::Duration ttl);
  ReleaseStatus release(const Lease& lease);
  std::optional<LeaseInfo> inspect(const std::string& session);
  LeasePage list(const std::string& cursor, std::size_t limit);
  std::optional<LeaseInfo> force_release(const std::string& session);

  // Blocks the worker thread until resume(), as when the OS pauses a process: the test
  // thread is the only one that may stop an event loop this way.
  void pause();
  void resume();

private:
  std::string id_;
  net::io_context io_{1};
  net::executor_work_guard<Executor> work_;
  LeaseStorePtr store_;
  std::atomic<unsigned> requests_{0};
  std::shared_ptr<std::promise<void>> paused_;
  std::future<void> stopped_;
  std::thread thread_;
};

// A session id no other case or run uses, so that a shared Redis needs no cleanup.
std::string unique_session(std::string_view purpose);

// Returns once `session` is held with `count` callers in line; fails the case if that
// does not happen within result_limit.
void wait_for_waiters(Instance& instance, const std::string& session, std::size_t count);

// The cases. Each makes its own instances on `backend`.
void check_uncontended_acquire_and_release(StoreUnderTest& backend);
void check_fences_increase_per_session(StoreUnderTest& backend);
void check_busy_without_waiting(StoreUnderTest& backend);
void check_waiter_takes_released_lease(StoreUnderTest& backend);
void check_waiters_served_in_arrival_order(StoreUnderTest& backend);
void check_wait_runs_out(StoreUnderTest& backend);
void check_full_line_turns_waiters_away(StoreUnderTest& backend);
void check_no_wait_caller_never_jumps_line(StoreUnderTest& backend);
void check_unrenewed_lease_expires(StoreUnderTest& backend);
void check_renewal_keeps_lease(StoreUnderTest& backend);
void check_lost_lease_stays_lost(StoreUnderTest& backend);
void check_force_release(StoreUnderTest& backend);
void check_list_pages(StoreUnderTest& backend);
void check_mutual_exclusion_under_contention(StoreUnderTest& backend);
void check_changes_wake_watchers(StoreUnderTest& backend);

}  // namespace baton::lease::testing

// One case, defined for any backend type; BATON_LEASE_STORE_CONFORMANCE instantiates it.
#define BATON_LEASE_CONFORMANCE_CASE(id, name, check)               \
  TEST_CASE_TEMPLATE_DEFINE("lease store: " name, Backend, id) {   \
    Backend backend;                                                \
    ::baton::lease::testing::check(backend);                        \
  }

BATON_LEASE_CONFORMANCE_CASE(baton_lease_acquire_release,
                             "an uncontended acquire gets a fenced lease that releases once",
                             check_uncontended_acquire_and_release)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_fences,
                             "fences strictly increase per session and sessions are independent",
                             check_fences_increase_per_session)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_busy,
                             "a caller that does not wait finds the session busy and its holder",
                             check_busy_without_waiting)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_handoff,
                             "a waiter takes the lease when the holder releases it",
                             check_waiter_takes_released_lease)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_fifo, "waiters are served first come first served",
                             check_waiters_served_in_arrival_order)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_wait_runs_out,
                             "a wait that runs out reports busy with its position and leaves the line",
                             check_wait_runs_out)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_max_waiters, "a full line turns further waiters away",
                             check_full_line_turns_waiters_away)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_no_jump,
                             "a caller that does not wait never takes the lease from the line",
                             check_no_wait_caller_never_jumps_line)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_ttl, "an unrenewed lease expires and a waiter takes it",
                             check_unrenewed_lease_expires)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_renew, "renewals keep a lease past its ttl",
                             check_renewal_keeps_lease)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_lost,
                             "a lease that expired or was forced away is lost to its holder",
                             check_lost_lease_stays_lost)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_force,
                             "a forced release ends the lease and wakes the next waiter",
                             check_force_release)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_list, "list pages through every held lease",
                             check_list_pages)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_exclusion,
                             "no overlap and increasing fences under contention from two instances",
                             check_mutual_exclusion_under_contention)
BATON_LEASE_CONFORMANCE_CASE(baton_lease_changes,
                             "a change of who holds or waits on another instance wakes a watcher at once",
                             check_changes_wake_watchers)

// The whole suite for `Backend` (a default-constructible StoreUnderTest), named `label`
// in the test names. At global scope.
#define BATON_LEASE_STORE_CONFORMANCE(label, Backend)                \
  TYPE_TO_STRING_AS(label, Backend);                                 \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_acquire_release, Backend);   \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_fences, Backend);            \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_busy, Backend);              \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_handoff, Backend);           \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_fifo, Backend);              \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_wait_runs_out, Backend);     \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_max_waiters, Backend);       \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_no_jump, Backend);           \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_ttl, Backend);               \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_renew, Backend);             \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_lost, Backend);              \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_force, Backend);             \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_list, Backend);              \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_exclusion, Backend);         \
  TEST_CASE_TEMPLATE_INVOKE(baton_lease_changes, Backend)
