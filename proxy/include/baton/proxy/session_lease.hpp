// The lease side of one exchange: whether the request's route needs its session's lease,
// taking it (bounded wait, first come first served, woken by releases), keeping it
// renewed while the engine works, and ending it the moment the engine is done with the
// session, without holding up the client (DESIGN.md promises 1 to 7).
#pragma once

#include "baton/core/config.hpp"
#include "baton/lease/lease_store.hpp"
#include "baton/lease/watchdog.hpp"
#include "baton/proxy/error_response.hpp"
#include "baton/proxy/headers.hpp"
#include "baton/proxy/request_record.hpp"
#include "baton/proxy/rules.hpp"

#include <memory>
#include <optional>
#include <string>

namespace baton::proxy {

class Worker;

class SessionLease {
public:
  // What happens to the lease goes into `record`, which must outlive this.
  SessionLease(Worker& worker, RequestRecord& record) : worker_(worker), record_(record) {}
  // A lease still held (the exchange ended early: engine error, cut stream) ends here.
  ~SessionLease() { release(LeaseEnding::error); }
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;

  // Finds the request's route. Called first.
  void match_route(const RequestHeader& request);
  // Whether the session id may be in the request body (a json source on a leased
  // route): the exchange then reads the body, up to max_body_for_id(), before take().
  bool wants_body() const;
  std::size_t max_body_for_id() const;

  // Before the request is forwarded: finds the session id, and takes the lease when the
  // route asks for one. An error reply when the request must not go on: 400 (no or bad
  // session id), 409 (busy past lease.wait_timeout), 429 (too many waiters), 503 (store
  // down and on_backend_down: fail_closed).
  Awaitable<std::optional<ErrorReply>> take(const RequestHeader& request,
                                            std::string_view request_id, std::string_view body);

  const core::RouteConfig* route() const { return route_; }
  bool held() const { return lease_.has_value(); }
  // Whether this route watches event streams for a "done" event.
  bool watches_done() const;

  // What the engine request carries because of the lease.
  LeaseHeaders engine_headers() const;
  // Cache-Control: no-store / X-Accel-Buffering: no for the client, as the route says.
  bool no_store() const;
  bool no_buffering() const;

  // Ends the lease now, once; the release goes out without waiting for its answer.
  // `how` is what the record says, unless the watchdog ended the lease first.
  void release(LeaseEnding how);

private:
  // The watchdog found the lease lost, or ended it at max_hold: there is nothing left
  // to release.
  void ended_by_watchdog(lease::LeaseEnd how);

  Worker& worker_;
  RequestRecord& record_;
  // The rules this request started under: a reload (SIGHUP) replaces the worker's, never
  // these, so route_ stays valid until the exchange ends.
  std::shared_ptr<const ProxyRules> rules_;
  const core::RouteConfig* route_ = nullptr;
  std::optional<lease::Lease> lease_;
  std::uint64_t watch_id_ = 0;
  bool ended_ = false;  // by the watchdog
};

}  // namespace baton::proxy
