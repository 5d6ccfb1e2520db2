// What baton-lockd answers, as plain values: a status, a JSON body and the few headers
// that go with it. Lease results become replies here; errors always carry
// {"error": <stable code>, "message": <for humans>}. Pure.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/lease/lease_store.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace baton::lockd {

inline constexpr std::string_view json_content_type = "application/json";
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

// A backend that is down is retried after this; the Redis client reconnects meanwhile.
inline constexpr std::chrono::seconds backend_down_retry_after{1};

struct Reply {
  http::status status = http::status::ok;
  std::string_view code;  // "acquired", "busy", "bad_key": for logs; the "error" of error bodies
  std::string body;
  std::string_view content_type = json_content_type;
  std::optional<std::chrono::seconds> retry_after;
  std::string_view allow;  // 405: the methods the resource takes
};

Reply error_reply(http::status status, std::string_view code, std::string_view message);
Reply method_not_allowed(std::string_view allow);
Reply health_reply();
Reply metrics_reply(std::string exposition);

// `caller` is the instance the lease was asked for, to tell whether it migrated.
Reply acquire_reply(const lease::AcquireResult& result, std::string_view key, std::string_view caller);
Reply renew_reply(lease::RenewStatus status, std::string_view key, core::Duration ttl);
Reply release_reply(lease::ReleaseStatus status, std::string_view key);
Reply inspect_reply(const std::optional<lease::LeaseInfo>& info, std::string_view key);
Reply list_reply(const lease::LeasePage& page);
Reply backend_down_reply(std::string_view detail);

// Retry-After is in whole seconds: rounded up, and at least 1 so that "0" never invites
// a tight retry loop.
std::chrono::seconds retry_after_seconds(std::chrono::milliseconds delay);

// The HTTP/1.1 message for a reply; Cache-Control: no-store on all of them, since lease
// state is stale the moment it is sent.
http::response<http::string_body> to_response(const Reply& reply, bool keep_alive);

}  // namespace baton::lockd
