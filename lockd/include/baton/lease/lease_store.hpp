// Session leases: the promise baton is built on. While a request holds a session's
// lease, no other request of that session, on any instance sharing the store, holds it.
//
// LeaseStore is the interface; RedisLeaseStore (many instances) and MemoryLeaseStore
// (one instance, and tests) implement it with the same observable behaviour. A store
// object belongs to one worker thread.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace baton::lease {

using Clock = std::chrono::steady_clock;

// What a caller asks for.
struct LeaseRequest {
  std::string session;     // validated with is_valid_session_id before it gets here
  std::string instance;    // the instance id of the caller (baton-proxy or lockd client)
  std::string request_id;  // for inspection and logs
  std::string route;       // for inspection
  core::Duration ttl{std::chrono::seconds(30)};
  core::Duration wait{std::chrono::seconds(10)};  // 0: one attempt, no waiting
  std::size_t max_waiters = 64;                  // per session; beyond -> too_many_waiters
};

// A lease held. Its token is its identity: only the holder knows it.
struct Lease {
  std::string session;
  std::string token;
  std::uint64_t fence = 0;        // strictly increasing per session, also across Redis restarts
  std::string previous_instance;  // who held the session last; empty if nobody or unknown
  std::chrono::milliseconds previous_release_age{-1};  // since that release; -1 if unknown
  core::Duration ttl{};
};

// Who holds a session when a caller cannot have it.
struct Holder {
  std::string instance;
  std::string request_id;
  std::chrono::milliseconds remaining{0};  // of its TTL
};

enum class AcquireStatus {
  acquired,
  busy,              // still held, or others ahead in line, when the wait ran out
  too_many_waiters,  // the session's queue is full
  backend_down,      // the store cannot be reached: the caller applies on_backend_down
};

struct AcquireResult {
  AcquireStatus status = AcquireStatus::backend_down;
  Lease lease;                   // when acquired
  Holder holder;                 // when busy or too_many_waiters (as last seen)
  std::size_t position = 0;      // in line when the wait ran out (0 = first)
  core::Duration waited{0};
  bool after_waiting = false;    // acquired, but not at the first attempt: it waited in line
  std::error_code error;         // when backend_down
};

enum class RenewStatus { renewed, lost, backend_down };
enum class ReleaseStatus { released, not_held, backend_down };  // not_held: expired or forced

// One lease as an operator sees it.
struct LeaseInfo {
  std::string session;
  std::string instance;
  std::string request_id;
  std::string route;
  std::uint64_t fence = 0;
  std::chrono::milliseconds age{0};
  std::chrono::milliseconds remaining{0};
  std::size_t waiters = 0;
};

struct LeasePage {
  std::vector<LeaseInfo> leases;
  std::string next_cursor;  // empty at the end
};

// A wake-up for whoever shows leases: something changed in who holds or waits for some
// session, on any instance sharing the store. It says nothing about what: list again to
// see. Used on the thread of the store that opened it, and not beyond that store's life.
class LeaseChanges {
public:
  virtual ~LeaseChanges() = default;

  // True as soon as a lease was taken, released or forced away, or a caller joined or
  // left a session's line, since the feed opened or the last wait returned; true too
  // when changes may have been missed (the store's connection was lost, and is back).
  // False at `deadline`, and at once after cancel(). A lease that ends by its TTL is no
  // change: a watcher that shows TTLs looks again when the earliest one runs out. One
  // wait at a time.
  virtual Awaitable<bool> wait_until(Clock::time_point deadline) = 0;

  // Ends the wait in progress, and every later one, at once with false: the watcher is
  // done. Wait for the wait to return before destroying the feed.
  virtual void cancel() = 0;
};

using LeaseChangesPtr = std::unique_ptr<LeaseChanges>;

class LeaseStore {
public:
  virtual ~LeaseStore() = default;

  // Takes the session's lease, waiting up to request.wait in first-come first-served
  // order, woken by releases (not by polling).
  virtual Awaitable<AcquireResult> acquire(LeaseRequest request) = 0;

  // Extends a held lease to `ttl` from now; lost when it expired or was forced away.
  virtual Awaitable<RenewStatus> renew(Lease lease, core::Duration ttl) = 0;

  // Ends a held lease and wakes the next waiter. A lease no longer held is left alone.
  virtual Awaitable<ReleaseStatus> release(Lease lease) = 0;

  // The session's lease, if held.
  virtual Awaitable<std::optional<LeaseInfo>> inspect(std::string session) = 0;

  // Held leases, a page at a time; `cursor` empty for the first page.
  virtual Awaitable<LeasePage> list(std::string cursor, std::size_t limit) = 0;

  // Ends whatever lease the session has (admin). Returns what was ended, if anything.
  virtual Awaitable<std::optional<LeaseInfo>> force_release(std::string session) = 0;

  // A feed of changes to every session's lease, for views that stay up to date without
  // polling. Open it before the first list(): changes after this returns are reported.
  // (If the store cannot be reached now, the first wait that reaches it returns true.)
  virtual Awaitable<LeaseChangesPtr> watch_changes() = 0;
};

using LeaseStorePtr = std::unique_ptr<LeaseStore>;

// Session ids become Redis keys: 1..128 characters of [A-Za-z0-9._:@=+/-] (the proxy's
// session.pattern may narrow it further). Braces, spaces, control characters, glob
// characters and anything beyond ASCII never pass.
bool is_valid_session_id(std::string_view session);

}  // namespace baton::lease
