// Leases in Redis, shared by every baton and baton-lockd that uses the same Redis and key
// prefix. Each transition is one Lua script (lockd/scripts/), one round trip.
#pragma once

#include "baton/core/config.hpp"
#include "baton/lease/lease_store.hpp"

namespace baton::redis {
class ClientObserver;
}

namespace baton::lease {

// A store for one worker thread, with its own command and pub/sub connections.
// `observer`, when given, watches the command connection (see redis::ClientOptions).
LeaseStorePtr make_redis_lease_store(Executor executor, const core::RedisConfig& config,
                                     std::string instance_id, redis::ClientObserver* observer = nullptr);

}  // namespace baton::lease
