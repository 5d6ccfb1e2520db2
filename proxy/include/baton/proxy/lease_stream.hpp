// GET /leases with Accept: text/event-stream: the held leases of every baton on the lease
// store as Server-Sent Events, sent again whenever they change, for the live page.
//
//   event: leases         a snapshot, {"leases": [as GET /leases lists them], "truncated": bool}
//   event: unavailable    {"error": "backend_down", "message": ...}: the store cannot be reached
//   : keep-alive          after 15 s without an event
//
// A new snapshot follows each change the store reports (LeaseStore::watch_changes: a
// push, never a poll), at most one per `min_gap`, and also when the earliest lease's TTL
// runs out (its end is no change that the store reports).
#pragma once

#include "baton/lease/lease_store.hpp"
#include "baton/proxy/admin_api.hpp"
#include "baton/proxy/admin_stream.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace baton::proxy {

struct LeaseStreamOptions {
  std::size_t max_leases = 500;  // per snapshot; beyond, "truncated": true
  // Pages of the store's list() per snapshot (a SCAN step of up to max_lease_limit keys
  // each, with Redis), so that a huge keyspace bounds the work too; beyond, truncated.
  std::size_t max_pages = 1000;
  core::Duration min_gap{std::chrono::milliseconds(250)};
  // A snapshot waits at least this many times as long as the last one took to collect,
  // so that a slow listing (a large keyspace) never takes more than a share of the store.
  unsigned gap_per_listing = 4;
  core::Duration keep_alive{std::chrono::seconds(15)};
  // While the store cannot be reached: when to look again, unless a change comes first.
  core::Duration unavailable_retry{std::chrono::seconds(1)};
  // After the earliest TTL runs out, before listing: the store's expiry is in whole ms.
  core::Duration expiry_slack{std::chrono::milliseconds(20)};
};

struct LeaseSnapshot {
  std::vector<lease::LeaseInfo> leases;  // by session, each once
  bool truncated = false;
};

// {"leases":[lease_info_json, ...],"truncated":false}
std::string lease_snapshot_json(const LeaseSnapshot& snapshot);

// The stream of one client. `local_only`: only leases held by `backend.instance_id()`
// (scope=local). `backend` outlives the stream; the slot is given back when it ends.
AdminStreamPtr make_lease_stream(AdminBackend& backend, StreamSlots::Slot slot, bool local_only,
                                 LeaseStreamOptions options = {});

}  // namespace baton::proxy
