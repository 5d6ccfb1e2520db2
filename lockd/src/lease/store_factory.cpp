#include "baton/lease/store_factory.hpp"

#include "baton/lease/memory_store.hpp"
#include "baton/lease/redis_store.hpp"

namespace baton::lease {

LeaseStoreFactory::LeaseStoreFactory(core::LeaseConfig lease, core::RedisConfig redis,
                                     std::string instance_id, redis::ClientObserver* redis_observer)
    : lease_(std::move(lease)),
      redis_(std::move(redis)),
      instance_id_(std::move(instance_id)),
      redis_observer_(redis_observer) {
  if (lease_.backend == core::LeaseBackend::memory) memory_ = make_memory_lease_table();
}

LeaseStoreFactory::~LeaseStoreFactory() = default;

LeaseStorePtr LeaseStoreFactory::create(Executor executor) {
  if (memory_) return make_memory_lease_store(memory_, executor);
  return make_redis_lease_store(executor, redis_, instance_id_, redis_observer_);
}

}  // namespace baton::lease
