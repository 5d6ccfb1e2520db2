// Makes the lease store of each worker thread from the configuration: a RedisLeaseStore
// with the thread's own Redis connections, or a view of the process's one memory table.
#pragma once

#include "baton/core/config.hpp"
#include "baton/lease/lease_store.hpp"

#include <memory>

namespace baton::redis {
class ClientObserver;
}

namespace baton::lease {

class MemoryLeaseTable;

class LeaseStoreFactory {
public:
  // `redis_observer`, when given, watches the command connection of every Redis store
  // made here (metrics); it must outlive them.
  LeaseStoreFactory(core::LeaseConfig lease, core::RedisConfig redis, std::string instance_id,
                    redis::ClientObserver* redis_observer = nullptr);
  ~LeaseStoreFactory();

  // A store for the worker thread that runs `executor`. Redis connections start
  // connecting at once, in the background.
  LeaseStorePtr create(Executor executor);

private:
  core::LeaseConfig lease_;
  core::RedisConfig redis_;
  std::string instance_id_;
  redis::ClientObserver* redis_observer_;
  std::shared_ptr<MemoryLeaseTable> memory_;  // the memory backend's state, shared by threads
};

}  // namespace baton::lease
