// Makes the lease store of each worker thread from the configuration: a RedisLeaseStore
// with the thread's own Redis connections, or a view of the process's one memory table.
#pragma once

#include "baton/core/config.hpp"
#include "baton/lease/lease_store.hpp"

#include <memory>

namespace baton::lease {

class MemoryLeaseTable;

class LeaseStoreFactory {
public:
  LeaseStoreFactory(core::LeaseConfig lease, core::RedisConfig redis, std::string instance_id);
  ~LeaseStoreFactory();

  // A store for the worker thread that runs `executor`. Redis connections start
  // connecting at once, in the background.
  LeaseStorePtr create(Executor executor);

private:
  core::LeaseConfig lease_;
  core::RedisConfig redis_;
  std::string instance_id_;
  std::shared_ptr<MemoryLeaseTable> memory_;  // the memory backend's state, shared by threads
};

}  // namespace baton::lease
