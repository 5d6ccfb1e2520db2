#include "baton/lease/memory_store.hpp"

#include "lockd/lease/lease_store_conformance.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace baton;
using namespace baton::lease;
using namespace baton::lease::testing;

// Each case gets its own table, as each process has one.
class MemoryBackend final : public StoreUnderTest {
public:
  LeaseStorePtr make_store(Executor executor) override {
    return make_memory_lease_store(table, executor);
  }

  std::shared_ptr<MemoryLeaseTable> table = make_memory_lease_table();
};

std::uint64_t microseconds_since_epoch() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

BATON_LEASE_STORE_CONFORMANCE("memory", MemoryBackend);

namespace {

TEST_CASE("memory store: list pages are full and in session order with each lease once") {
  MemoryBackend backend;
  Instance a(backend, "instance-a");
  std::vector<std::string> sessions;
  std::vector<Lease> leases;
  for (char name = 'e'; name >= 'a'; --name) {  // taken out of order; listed in order
    sessions.insert(sessions.begin(), std::string("session-") + name);
    AcquireResult result = a.acquire(a.request(sessions.front()));
    REQUIRE(result.status == AcquireStatus::acquired);
    leases.push_back(result.lease);
  }

  std::vector<std::string> listed;
  std::vector<std::size_t> page_sizes;
  std::string cursor;
  do {
    const LeasePage page = a.list(cursor, 2);
    page_sizes.push_back(page.leases.size());
    for (const LeaseInfo& info : page.leases) listed.push_back(info.session);
    cursor = page.next_cursor;
    REQUIRE(page_sizes.size() <= 3);
  } while (!cursor.empty());
  CHECK(page_sizes == std::vector<std::size_t>{2, 2, 1});
  CHECK(listed == sessions);

  // A cursor names the last lease of its page; the next page starts after it, also when
  // that lease has ended meanwhile.
  const LeasePage first = a.list("", 2);
  REQUIRE(first.next_cursor == "session-b");
  CHECK(a.release(leases[3]) == ReleaseStatus::released);  // session-b
  const LeasePage second = a.list(first.next_cursor, 2);
  REQUIRE(second.leases.size() == 2);
  CHECK(second.leases[0].session == "session-c");
  CHECK(second.leases[1].session == "session-d");
}

TEST_CASE("memory store: fences are at least the clock in microseconds") {
  MemoryBackend backend;
  Instance a(backend, "instance-a");
  const std::uint64_t before = microseconds_since_epoch();
  const AcquireResult result = a.acquire(a.request(unique_session("fence-clock")));
  REQUIRE(result.status == AcquireStatus::acquired);
  CHECK(result.lease.fence >= before);
}

TEST_CASE("memory store: stores over different tables share nothing") {
  MemoryBackend first_process;
  MemoryBackend second_process;
  Instance a(first_process, "instance-a");
  Instance b(second_process, "instance-b");
  const std::string session = unique_session("separate-tables");
  CHECK(a.acquire(a.request(session)).status == AcquireStatus::acquired);
  CHECK(b.acquire(b.request(session)).status == AcquireStatus::acquired);
}

// A worker that stops while one of its acquires waits (shutdown, or a failed thread)
// must not leave a place in line behind: the others would wait for its deadline, and a
// release would post a wake-up to an io_context that no longer exists.
TEST_CASE("memory store: a waiter whose worker is destroyed leaves the line") {
  MemoryBackend backend;
  Instance a(backend, "instance-a");
  const std::string session = unique_session("stopped-worker");
  const AcquireResult held = a.acquire(a.request(session));
  REQUIRE(held.status == AcquireStatus::acquired);

  auto io = std::make_unique<net::io_context>(1);
  LeaseStorePtr store = make_memory_lease_store(backend.table, io->get_executor());
  LeaseRequest request = a.request(session, 20s);
  auto abandoned = net::co_spawn(
      io->get_executor(), [store = store.get(), request] { return store->acquire(request); },
      net::use_future);
  std::thread worker([&io] { io->run(); });
  wait_for_waiters(a, session, 1);
  io->stop();
  worker.join();
  io.reset();  // destroys the waiting coroutine
  store.reset();

  CHECK(a.inspect(session)->waiters == 0);
  CHECK(a.release(held.lease) == ReleaseStatus::released);
  CHECK_THROWS_AS(abandoned.get(), std::future_error);  // broken promise
}

TEST_CASE("memory store: waiters that gave up leave nothing behind in line") {
  MemoryBackend backend;
  Instance a(backend, "instance-a");
  Instance b(backend, "instance-b");
  const std::string session = unique_session("left");
  const AcquireResult held = a.acquire(a.request(session));
  REQUIRE(held.status == AcquireStatus::acquired);

  // Many short waits come and go while a long one stays in line; the release then
  // reaches only the one still waiting, which is served once.
  auto staying = b.start_acquire(b.request(session, 20s));
  wait_for_waiters(a, session, 1);
  for (int i = 0; i < 20; ++i) {
    const AcquireResult gave_up = a.acquire(a.request(session, 5ms));
    CHECK(gave_up.status == AcquireStatus::busy);
    CHECK(gave_up.position == 1);
  }
  CHECK(a.inspect(session)->waiters == 1);
  CHECK(a.release(held.lease) == ReleaseStatus::released);
  const AcquireResult served = get(std::move(staying));
  REQUIRE(served.status == AcquireStatus::acquired);
  CHECK(b.release(served.lease) == ReleaseStatus::released);
}

}  // namespace
