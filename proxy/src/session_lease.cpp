#include "baton/proxy/session_lease.hpp"

#include "baton/lease/watchdog.hpp"
#include "baton/proxy/rules.hpp"
#include "baton/proxy/worker.hpp"


namespace baton::proxy {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

unsigned seconds_rounded_up(milliseconds duration) {
  return static_cast<unsigned>(std::max<long long>(1, (duration.count() + 999) / 1000));
}

ErrorReply missing_session() {
  return {http::status::bad_request, "missing_session_id",
          "this route needs a session id, and the request carries none"};
}

ErrorReply invalid_session(std::string_view reason) {
  return {http::status::bad_request, "invalid_session_id",
          reason.empty() ? std::string_view("the session id is not valid") : reason};
}

ErrorReply busy(const lease::AcquireResult& result) {
  ErrorReply reply{http::status::conflict, "session_busy",
                   "another request of this session is running; try again later"};
  reply.retry_after = seconds_rounded_up(result.holder.remaining);
  reply.waited_ms = duration_cast<milliseconds>(result.waited).count();
  reply.position = static_cast<long long>(result.position);
  return reply;
}

ErrorReply too_many_waiters(const lease::AcquireResult& result) {
  ErrorReply reply{http::status::too_many_requests, "too_many_waiters",
                   "too many requests of this session are waiting already"};
  reply.retry_after = seconds_rounded_up(result.holder.remaining);
  return reply;
}

ErrorReply backend_down() {
  ErrorReply reply{http::status::service_unavailable, "lease_store_unavailable",
                   "the lease store cannot be reached"};
  reply.retry_after = 1;
  return reply;
}

}  // namespace

void SessionLease::match_route(const RequestHeader& request) {
  rules_ = worker_.rules();
  route_ = rules_->routes.match(request.method(), request.method_string(), request.target());
  if (route_ != nullptr) record_.route = route_->name;
}

bool SessionLease::wants_body() const {
  return route_ != nullptr && route_->lease != core::LeaseMode::none &&
         rules_->sessions.needs_body();
}

std::size_t SessionLease::max_body_for_id() const { return rules_->sessions.max_json_body(); }

Awaitable<std::optional<ErrorReply>> SessionLease::take(const RequestHeader& request,
                                                        std::string_view request_id,
                                                        std::string_view body) {
  if (route_ == nullptr || route_->lease == core::LeaseMode::none) {
    record_.lease = LeaseDecision::bypassed;
    co_return std::nullopt;
  }

  auto session = rules_->sessions.extract(request, body);
  if (session.status == SessionIdStatus::invalid) co_return invalid_session(session.reason);
  if (session.status == SessionIdStatus::missing) {
    if (route_->lease != core::LeaseMode::optional) co_return missing_session();
    record_.lease = LeaseDecision::bypassed;
    co_return std::nullopt;
  }
  record_.session = session.id;

  const auto& config = worker_.config();
  lease::LeaseRequest wanted;
  wanted.session = std::move(session.id);
  wanted.instance = config.instance_id;
  wanted.request_id = std::string(request_id);
  wanted.route = route_->name;
  wanted.ttl = config.lease.ttl;
  wanted.wait = config.lease.wait_timeout;
  wanted.max_waiters = config.lease.max_waiters;
  auto& metrics = worker_.metrics();
  metrics.lease_wait_began();
  const auto asked_at = RequestRecord::Clock::now();
  auto result = co_await worker_.leases().acquire(std::move(wanted));
  record_.wait = RequestRecord::Clock::now() - asked_at;
  metrics.lease_wait_ended();

  std::optional<ErrorReply> refusal;
  switch (result.status) {
    case lease::AcquireStatus::acquired: {
      lease_ = std::move(result.lease);
      const auto& previous = lease_->previous_instance;
      record_.lease = result.after_waiting ? LeaseDecision::waited : LeaseDecision::acquired;
      record_.fence = lease_->fence;
      record_.migrated = !previous.empty() && previous != config.instance_id;
      watch_id_ = worker_.watchdog().watch(*lease_, [this](lease::LeaseEnd how) { ended_by_watchdog(how); });
      break;
    }
    case lease::AcquireStatus::busy:
      record_.lease = LeaseDecision::busy;
      refusal = busy(result);
      break;
    case lease::AcquireStatus::too_many_waiters:
      record_.lease = LeaseDecision::too_many_waiters;
      refusal = too_many_waiters(result);
      break;
    case lease::AcquireStatus::backend_down:
      if (config.lease.on_backend_down == core::BackendDownPolicy::fail_open) {
        spdlog::warn("lease store unreachable: forwarding without a lease (fail_open)");
        record_.lease = LeaseDecision::fail_open;
      } else {
        record_.lease = LeaseDecision::backend_down;
        refusal = backend_down();
      }
      break;
  }
  metrics.lease_decided(record_);
  co_return refusal;
}

void SessionLease::ended_by_watchdog(lease::LeaseEnd how) {
  const bool lost = how == lease::LeaseEnd::lost;
  spdlog::warn("session {}: lease {} while its request runs", lease_->session, lost ? "lost" : "ended at max_hold");
  record_.lease_end = lost ? LeaseEnding::lost : LeaseEnding::max_hold;
  auto& metrics = worker_.metrics();
  if (lost)
    metrics.lease_lost();
  else
    metrics.lease_max_hold();
  metrics.lease_ended();
  ended_ = true;
}

bool SessionLease::watches_done() const {
  return held() && route_->sse_done.kind != core::SseDone::Kind::none;
}

LeaseHeaders SessionLease::engine_headers() const {
  if (!held()) return {};
  const auto& headers = route_->headers;
  return {headers.cache_bypass, headers.fence ? lease_->fence : 0, headers.migrated && record_.migrated,
          headers.identity_encoding && route_->sse_done.kind != core::SseDone::Kind::none};
}

bool SessionLease::no_store() const { return held() && route_->headers.no_store; }

bool SessionLease::no_buffering() const { return held() && route_->headers.no_buffering; }

void SessionLease::release(LeaseEnding how) {
  if (!lease_) return;
  if (!ended_) {
    worker_.watchdog().unwatch(watch_id_);
    worker_.release_in_background(std::move(*lease_));
    record_.lease_end = how;
    worker_.metrics().lease_ended();
  }
  lease_.reset();
}

}  // namespace baton::proxy
