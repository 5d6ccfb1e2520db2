// The Redis lease store against a real redis-server: the shared behavioural suite, and
// what only a shared, external store can show (several processes, crashes, restarts,
// wake-ups by push).
#include "baton/lease/redis_store.hpp"
#include "baton/lease/watchdog.hpp"

#include "lockd/lease/lease_store_conformance.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>

namespace baton::lease::testing {
namespace {

using namespace std::chrono_literals;
using test::RedisServer;

// One redis-server for the whole program; each backend object has its own key prefix.
RedisServer& shared_server() {
  static RedisServer server;
  return server;
}

core::RedisConfig redis_config(const RedisServer& server, std::string prefix) {
  core::RedisConfig config;
  config.url = core::parse_redis_url(server.url());
  config.key_prefix = std::move(prefix);
  config.command_timeout = 2s;
  return config;
}

std::string unique_prefix() {
  static std::atomic<unsigned> count{0};
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(count++);
}

class RedisBackend : public StoreUnderTest {
public:
  explicit RedisBackend(RedisServer& server = shared_server(), core::Duration command_timeout = 2s)
      : config_(redis_config(server, unique_prefix())) {
    config_.command_timeout = command_timeout;
  }

  LeaseStorePtr make_store(Executor executor) override {
    return make_redis_lease_store(executor, config_, "test");
  }

  // The key of one of a session's records: "lease", "state", "queue".
  std::string key(const std::string& session, std::string_view record) const {
    return config_.key_prefix + ":{" + session + "}:" + std::string(record);
  }

private:
  core::RedisConfig config_;
};

// Calls of a command so far, from INFO commandstats ("cmdstat_evalsha:calls=12,...").
long long command_calls(RedisServer& server, const std::string& command) {
  const auto info = server.command({"INFO", "commandstats"}).text;
  const auto key = "cmdstat_" + command + ":calls=";
  const auto at = info.find(key);
  return at == std::string::npos ? 0 : std::atoll(info.c_str() + at + key.size());
}

std::string contender_program() {
  const char* dir = std::getenv("BATON_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : BATON_BIN_DIR) +
         "/baton-lease-contender";
}

struct Holding {
  std::uint64_t fence;
  long long enter_ns;
  long long exit_ns;
};

// Reads "session fence enter exit" lines; counts "# busy N" lines into `busy`.
void read_holdings(const std::filesystem::path& file,
                   std::map<std::string, std::vector<Holding>>& by_session, long long& busy) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    if (line.rfind("# busy ", 0) == 0) {
      busy += std::atoll(line.c_str() + 7);
      continue;
    }
    std::string session;
    Holding holding{};
    fields >> session >> holding.fence >> holding.enter_ns >> holding.exit_ns;
    by_session[session].push_back(holding);
  }
}

}  // namespace
}  // namespace baton::lease::testing

BATON_LEASE_STORE_CONFORMANCE("redis", baton::lease::testing::RedisBackend);

namespace baton::lease::testing {

TEST_SUITE("redis lease store") {
  TEST_CASE("three processes contending on a few sessions never overlap, fences increase") {
    auto& server = shared_server();
    test::TempDir dir;
    const auto prefix = unique_prefix();
    std::vector<std::unique_ptr<test::Process>> contenders;
    for (int i = 0; i < 3; ++i) {
      contenders.push_back(std::make_unique<test::Process>(test::ProcessOptions{
          .program = contender_program(),
          .args = {"--redis", server.url(), "--prefix", prefix, "--out",
                   (dir / ("holdings-" + std::to_string(i))).string(), "--sessions", "3",
                   "--threads", "3", "--acquisitions", "150"},
          .env = {},
          .log_file = dir / ("contender-" + std::to_string(i) + ".log")}));
    }
    for (auto& contender : contenders) {
      auto status = contender->wait_for_exit(120s);
      REQUIRE(status.has_value());
      REQUIRE(status->exited_with(0));
    }

    std::map<std::string, std::vector<Holding>> by_session;
    long long busy = 0;
    for (int i = 0; i < 3; ++i) read_holdings(dir / ("holdings-" + std::to_string(i)), by_session, busy);
    std::size_t total = 0;
    for (auto& [session, holdings] : by_session) {
      total += holdings.size();
      std::sort(holdings.begin(), holdings.end(),
                [](const Holding& a, const Holding& b) { return a.enter_ns < b.enter_ns; });
      for (std::size_t i = 1; i < holdings.size(); ++i) {
        INFO("session ", session, " holding ", i);
        CHECK(holdings[i - 1].exit_ns <= holdings[i].enter_ns);  // never two holders at once
        CHECK(holdings[i - 1].fence < holdings[i].fence);        // fences in order of entry
      }
    }
    CHECK(busy == 0);
    CHECK(total == 3 * 3 * 150);
  }

  TEST_CASE("a blocked waiter is woken by the release, not by polling") {
    RedisBackend backend;
    Instance holder(backend, "holder");
    Instance waiter(backend, "waiter");
    const auto session = unique_session("push");
    auto held = holder.acquire(holder.request(session, 0s, 60s));
    REQUIRE(held.status == AcquireStatus::acquired);

    auto waiting = waiter.start_acquire(waiter.request(session, 20s, 60s));
    wait_for_waiters(holder, session, 1);
    const auto calls_before = command_calls(shared_server(), "evalsha");
    // Long enough for a polling lock to have retried many times (redsync: every 50-250 ms).
    std::this_thread::sleep_for(1500ms);
    const auto calls_while_blocked = command_calls(shared_server(), "evalsha") - calls_before;
    CHECK(calls_while_blocked <= 2);

    REQUIRE(holder.release(held.lease) == ReleaseStatus::released);
    auto result = get(std::move(waiting));
    CHECK(result.status == AcquireStatus::acquired);
    CHECK(result.lease.previous_instance == "holder");
  }

  TEST_CASE("a session's state keeps a TTL of a day, also when it was evicted while held") {
    RedisBackend backend;
    Instance owner(backend, "owner");
    const auto session = unique_session("state-ttl");
    const auto state = backend.key(session, "state");
    using std::chrono::milliseconds;
    auto state_ttl = [&] { return milliseconds(shared_server().command({"PTTL", state}).integer); };
    const auto day = milliseconds(24h);

    auto held = owner.acquire(owner.request(session, 0s, 60s));
    REQUIRE(held.status == AcquireStatus::acquired);
    CHECK(state_ttl() > day - 1min);
    REQUIRE(owner.release(held.lease) == ReleaseStatus::released);
    CHECK(state_ttl() > day - 1min);

    // Evicted (maxmemory) while the lease was held: the release writes the state anew,
    // and must not leave it without a TTL.
    held = owner.acquire(owner.request(session, 0s, 60s));
    REQUIRE(held.status == AcquireStatus::acquired);
    shared_server().command({"DEL", state});
    REQUIRE(owner.release(held.lease) == ReleaseStatus::released);
    CHECK(state_ttl() > day - 1min);
    CHECK(state_ttl() <= day);
    auto next = owner.acquire(owner.request(session, 0s, 60s));
    CHECK(next.lease.previous_instance == "owner");
    CHECK(next.lease.previous_release_age >= 0ms);
  }

  TEST_CASE("a holder killed with SIGKILL blocks its session until its TTL, then frees it") {
    auto& server = shared_server();
    test::TempDir dir;
    const auto prefix = unique_prefix();
    const auto session = unique_session("crash");
    test::Process holder(test::ProcessOptions{
        .program = contender_program(),
        .args = {"--redis", server.url(), "--prefix", prefix, "--hold", session, "--ttl", "2s"},
        .env = {},
        .log_file = dir / "holder.log"});
    REQUIRE(test::wait_until(10s, [&] { return holder.log().find("held ") != std::string::npos; }));

    core::RedisConfig config = redis_config(server, prefix);
    struct PrefixedBackend : StoreUnderTest {
      explicit PrefixedBackend(core::RedisConfig c) : config(std::move(c)) {}
      LeaseStorePtr make_store(Executor executor) override {
        return make_redis_lease_store(executor, config, "survivor");
      }
      core::RedisConfig config;
    } backend(config);
    Instance survivor(backend, "survivor");

    holder.signal(SIGKILL);
    REQUIRE(holder.wait_for_exit(10s).has_value());
    // Killed, not released: the session stays taken until the TTL runs out...
    auto right_after = survivor.acquire(survivor.request(session, 0s));
    CHECK(right_after.status == AcquireStatus::busy);
    CHECK(right_after.holder.remaining > 0ms);
    // ...and then a waiter gets it, told by the TTL rather than by a release message.
    auto later = survivor.acquire(survivor.request(session, 10s));
    CHECK(later.status == AcquireStatus::acquired);
  }

  TEST_CASE("the watchdog keeps a lease past its TTL, and reports a forced release as lost") {
    RedisBackend backend;
    Instance owner(backend, "owner");
    Instance other(backend, "other");
    const auto session = unique_session("watchdog");
    auto held = owner.acquire(owner.request(session, 0s, 600ms));
    REQUIRE(held.status == AcquireStatus::acquired);

    std::promise<LeaseEnd> ended;
    auto watchdog = get(owner.start([&]() -> Awaitable<std::shared_ptr<Watchdog>> {
      auto dog = std::make_shared<Watchdog>(owner.executor(), owner.store(), 1h);
      dog->watch(held.lease, [&ended](LeaseEnd how) { ended.set_value(how); });
      co_return dog;
    }));
    // Three TTLs later the lease is still the owner's.
    std::this_thread::sleep_for(1800ms);
    auto seen = other.inspect(session);
    REQUIRE(seen.has_value());
    CHECK(seen->fence == held.lease.fence);

    REQUIRE(other.force_release(session).has_value());
    auto end = ended.get_future();
    REQUIRE(end.wait_for(10s) == std::future_status::ready);
    CHECK(end.get() == LeaseEnd::lost);
    CHECK(watchdog->counts().lost == 1);
    CHECK(watchdog->counts().renewals >= 3);  // three TTLs held: at least three renewals
    get(owner.start([watchdog = std::move(watchdog)]() mutable -> Awaitable<void> {
      watchdog.reset();  // destroyed on its own thread
      co_return;
    }));
  }

  TEST_CASE("an acquire that got no answer while Redis was frozen leaves neither a lease nor a place in line") {
    RedisServer server;
    RedisBackend backend(server, 300ms);
    Instance instance(backend, "instance");
    const auto free_session = unique_session("unanswered-free");
    const auto held_session = unique_session("unanswered-held");
    // The scripts are loaded by a first call; before that a late EVALSHA would only fail.
    auto holder = instance.acquire(instance.request(held_session));
    REQUIRE(holder.status == AcquireStatus::acquired);

    server.pause();
    CHECK(instance.acquire(instance.request(free_session)).status == AcquireStatus::backend_down);
    CHECK(instance.acquire(instance.request(held_session, 5s)).status == AcquireStatus::backend_down);
    server.resume();

    // On the store's connection these run after the late acquires and what undoes them.
    CHECK_FALSE(instance.inspect(free_session).has_value());
    const auto held = instance.inspect(held_session);
    REQUIRE(held.has_value());
    CHECK(held->waiters == 0);
    // Nothing stands in the way of the next callers.
    CHECK(instance.acquire(instance.request(free_session)).status == AcquireStatus::acquired);
    REQUIRE(instance.release(holder.lease) == ReleaseStatus::released);
    CHECK(instance.acquire(instance.request(held_session)).status == AcquireStatus::acquired);
  }

  TEST_CASE("Redis down: acquire fails fast as backend_down, and recovers when it is back") {
    RedisServer server;
    RedisBackend backend(server);
    Instance instance(backend, "instance");
    const auto session = unique_session("restart");
    auto first = instance.acquire(instance.request(session));
    REQUIRE(first.status == AcquireStatus::acquired);
    REQUIRE(instance.release(first.lease) == ReleaseStatus::released);

    server.stop(RedisServer::Data::drop);
    auto while_down = instance.acquire(instance.request(session, 5s));
    CHECK(while_down.status == AcquireStatus::backend_down);
    CHECK(while_down.waited < 5s);

    server.start();  // empty: the fence history is gone with the data
    AcquireResult after{};
    REQUIRE(test::wait_until(20s, [&] {
      after = instance.acquire(instance.request(session));
      return after.status == AcquireStatus::acquired;
    }));
    CHECK(after.lease.fence > first.lease.fence);
  }
}

}  // namespace baton::lease::testing
