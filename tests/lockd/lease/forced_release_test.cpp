// A forced release (admin) disowns the holder: its token can neither renew nor release
// the session any more, not before and not after someone else takes it, and the next
// holder gets a higher fence. Through LeaseStore directly, on the memory store and on a
// real redis-server.
#include "baton/lease/memory_store.hpp"
#include "baton/lease/redis_store.hpp"

#include "lockd/lease/lease_store_conformance.hpp"
#include "support/redis_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <unistd.h>

namespace baton::lease::testing {
namespace {

using namespace std::chrono_literals;

class MemoryStore final : public StoreUnderTest {
public:
  LeaseStorePtr make_store(Executor executor) override { return make_memory_lease_store(table_, executor); }

private:
  std::shared_ptr<MemoryLeaseTable> table_ = make_memory_lease_table();
};

class RedisStore final : public StoreUnderTest {
public:
  RedisStore() {
    static std::atomic<unsigned> count{0};
    config_.url = core::parse_redis_url(server().url());
    config_.key_prefix = "forced-" + std::to_string(::getpid()) + "-" + std::to_string(count++);
    config_.command_timeout = 2s;
  }

  LeaseStorePtr make_store(Executor executor) override { return make_redis_lease_store(executor, config_, "test"); }

private:
  static test::RedisServer& server() {
    static test::RedisServer shared;
    return shared;
  }

  core::RedisConfig config_;
};

Lease acquire(Instance& instance, const std::string& session) {
  AcquireResult result = instance.acquire(instance.request(session));
  REQUIRE(result.status == AcquireStatus::acquired);
  return result.lease;
}

}  // namespace
}  // namespace baton::lease::testing

TYPE_TO_STRING_AS("memory", baton::lease::testing::MemoryStore);
TYPE_TO_STRING_AS("redis", baton::lease::testing::RedisStore);

namespace baton::lease::testing {

TEST_CASE_TEMPLATE("forced release: the old holder's token can neither renew nor release, the next fence is higher",
                   Backend, MemoryStore, RedisStore) {
  Backend backend;
  Instance holder(backend, "instance-a");
  Instance admin(backend, "instance-b");
  const std::string session = unique_session("forced-release");

  const Lease old = acquire(holder, session);
  const auto ended = admin.force_release(session);
  REQUIRE(ended.has_value());
  CHECK(ended->fence == old.fence);
  CHECK(ended->instance == "instance-a");

  // Right after the force: the session is free, and the old token does not bring it back.
  CHECK(holder.renew(old, 10s) == RenewStatus::lost);
  CHECK(holder.release(old) == ReleaseStatus::not_held);
  CHECK_FALSE(holder.inspect(session).has_value());

  // Someone else takes it, with a higher fence; the old token still touches nothing.
  const Lease next = acquire(admin, session);
  CHECK(next.fence > old.fence);
  CHECK(next.token != old.token);
  CHECK(holder.renew(old, 10s) == RenewStatus::lost);
  CHECK(holder.release(old) == ReleaseStatus::not_held);
  const auto held = holder.inspect(session);
  REQUIRE(held.has_value());
  CHECK(held->instance == "instance-b");
  CHECK(held->fence == next.fence);

  CHECK(admin.renew(next, 10s) == RenewStatus::renewed);
  CHECK(admin.release(next) == ReleaseStatus::released);
  CHECK_FALSE(holder.inspect(session).has_value());
}

}  // namespace baton::lease::testing
