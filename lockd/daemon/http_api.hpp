// baton-lockd's HTTP API as a pure function: method and target in, decision out. A
// decision is either a reply to send at once (errors, health) or one fully validated
// lease operation for the store. Keys are checked with is_valid_session_id here, so a bad
// key never reaches a store; nothing here does I/O.
//
//   POST   /v1/leases/{key}?ttl=&wait=&instance=&request_id=   acquire
//   POST   /v1/leases/{key}/renew?token=&ttl=                  renew
//   DELETE /v1/leases/{key}?token=                             release
//   GET    /v1/leases/{key}                                    inspect
//   GET    /v1/leases?cursor=&limit=                           list
//   GET    /healthz, /metrics
#pragma once

#include "api_replies.hpp"
#include "baton/core/config.hpp"
#include "baton/lease/lease_store.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace baton::lockd {

// The caller's name when a request gives no instance=.
inline constexpr std::string_view default_caller_instance = "lockd-client";
// LeaseInfo.route of leases taken through baton-lockd, so operators can tell them apart.
inline constexpr std::string_view lease_route = "baton-lockd";

inline constexpr std::size_t default_list_limit = 100;
inline constexpr std::size_t max_list_limit = 1000;

// What requests may ask for, from the configuration.
struct ApiSettings {
  core::Duration default_ttl{std::chrono::seconds(30)};
  core::Duration default_wait{std::chrono::seconds(10)};
  core::Duration min_ttl{std::chrono::milliseconds(100)};
  core::Duration max_ttl{std::chrono::minutes(10)};
  core::Duration max_wait{std::chrono::minutes(1)};
  std::size_t max_waiters = 64;

  static ApiSettings from(const core::LockdConfig& config);
};

struct AcquireCall {
  lease::LeaseRequest request;
};
struct RenewCall {
  lease::Lease lease;  // only session and token are known: the caller holds the rest
  core::Duration ttl;
};
struct ReleaseCall {
  lease::Lease lease;  // only session and token
};
struct InspectCall {
  std::string key;
};
struct ListCall {
  std::string cursor;
  std::size_t limit = default_list_limit;
};
struct MetricsCall {};

using Decision = std::variant<Reply, AcquireCall, RenewCall, ReleaseCall, InspectCall, ListCall, MetricsCall>;

Decision decide(http::verb method, std::string_view target, const ApiSettings& settings);

}  // namespace baton::lockd
