// In-process leases, for a single replica and for tests: the same observable behaviour
// as the Redis store (fences, first-come first-served waiting, TTLs, wake-ups), kept in
// one table that every worker thread of the process shares.
#pragma once

#include "baton/lease/lease_store.hpp"

#include <memory>

namespace baton::lease {

// The process-wide state. Thread-safe; waiters on any thread are woken on their own
// executor.
class MemoryLeaseTable;

std::shared_ptr<MemoryLeaseTable> make_memory_lease_table();

// A store for one worker thread, over the shared table.
LeaseStorePtr make_memory_lease_store(std::shared_ptr<MemoryLeaseTable> table, Executor executor);

}  // namespace baton::lease
