#include "api_replies.hpp"

#include "baton/lease/lease_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>

namespace baton::lockd {
namespace {

using std::chrono::milliseconds;

// What the API calls a session: callers lease "keys" of their own choosing.
constexpr std::string_view lease_id_name = "key";

// A JSON object written field by field.
class JsonObject {
public:
  JsonObject() : writer_(buffer_) { writer_.StartObject(); }

  JsonObject& field(std::string_view key, std::string_view value) {
    name(key);
    writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    return *this;
  }
  JsonObject& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  JsonObject& field(std::string_view key, bool value) {
    name(key);
    writer_.Bool(value);
    return *this;
  }
  JsonObject& field(std::string_view key, std::uint64_t value) {
    name(key);
    writer_.Uint64(value);
    return *this;
  }
  JsonObject& field(std::string_view key, milliseconds value) {
    name(key);
    writer_.Int64(value.count());
    return *this;
  }
  // A string, or null when empty ("nobody" / "unknown").
  JsonObject& optional_field(std::string_view key, std::string_view value) {
    if (!value.empty()) return field(key, value);
    name(key);
    writer_.Null();
    return *this;
  }
  JsonObject& begin_object(std::string_view key) {
    name(key);
    writer_.StartObject();
    return *this;
  }
  JsonObject& end_object() {
    writer_.EndObject();
    return *this;
  }

  std::string finish() {
    writer_.EndObject();
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }

private:
  void name(std::string_view key) { writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())); }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

Reply json_reply(http::status status, std::string_view code, std::string body) {
  return {.status = status, .code = code, .body = std::move(body)};
}

std::string quoted(std::string_view key) { return "'" + std::string(key) + "'"; }

Reply busy_reply(const lease::AcquireResult& result, std::string_view key) {
  const auto& holder = result.holder;
  JsonObject json;
  json.field("error", "busy")
      .field("message", "key " + quoted(key) + " is held by " +
                            (holder.instance.empty() ? std::string("another caller") : quoted(holder.instance)) +
                            "; retry later or wait longer")
      .field("key", key)
      .begin_object("holder")
      .optional_field("instance", holder.instance)
      .optional_field("request_id", holder.request_id)
      .end_object()
      .field("retry_after_ms", holder.remaining)
      .field("position", static_cast<std::uint64_t>(result.position))
      .field("waited_ms", result.waited);
  Reply reply = json_reply(http::status::conflict, "busy", json.finish());
  reply.retry_after = retry_after_seconds(holder.remaining);
  return reply;
}

Reply too_many_waiters_reply(const lease::AcquireResult& result, std::string_view key) {
  Reply reply = error_reply(http::status::too_many_requests, "too_many_waiters",
                            "too many callers already wait for key " + quoted(key) + " (lease.max_waiters)");
  reply.retry_after = retry_after_seconds(result.holder.remaining);
  return reply;
}

}  // namespace

std::chrono::seconds retry_after_seconds(milliseconds delay) {
  const auto rounded_up = std::chrono::ceil<std::chrono::seconds>(delay);
  return std::max(rounded_up, std::chrono::seconds(1));
}

Reply error_reply(http::status status, std::string_view code, std::string_view message) {
  JsonObject json;
  json.field("error", code).field("message", message);
  return json_reply(status, code, json.finish());
}

Reply method_not_allowed(std::string_view allow) {
  Reply reply = error_reply(http::status::method_not_allowed, "method_not_allowed",
                            "this resource takes " + std::string(allow));
  reply.allow = allow;
  return reply;
}

Reply health_reply() {
  JsonObject json;
  json.field("status", "ok");
  return json_reply(http::status::ok, "ok", json.finish());
}

Reply metrics_reply(std::string exposition) {
  return {.status = http::status::ok, .code = "metrics", .body = std::move(exposition),
          .content_type = prometheus_content_type};
}

Reply backend_down_reply(std::string_view detail) {
  std::string message = "the lease backend cannot be reached";
  if (!detail.empty()) message += ": " + std::string(detail);
  Reply reply = error_reply(http::status::service_unavailable, "backend_down", message);
  reply.retry_after = backend_down_retry_after;
  return reply;
}

Reply acquire_reply(const lease::AcquireResult& result, std::string_view key, std::string_view caller) {
  switch (result.status) {
    case lease::AcquireStatus::acquired: {
      const auto& lease = result.lease;
      const bool migrated = !lease.previous_instance.empty() && lease.previous_instance != caller;
      JsonObject json;
      json.field("key", key)
          .field("token", lease.token)
          .field("fence", lease.fence)
          .field("ttl_ms", lease.ttl)
          .field("migrated", migrated)
          .optional_field("previous_instance", lease.previous_instance)
          .field("waited_ms", result.waited);
      return json_reply(http::status::ok, "acquired", json.finish());
    }
    case lease::AcquireStatus::busy:
      return busy_reply(result, key);
    case lease::AcquireStatus::too_many_waiters:
      return too_many_waiters_reply(result, key);
    case lease::AcquireStatus::backend_down:
      break;
  }
  return backend_down_reply(result.error ? result.error.message() : std::string());
}

Reply renew_reply(lease::RenewStatus status, std::string_view key, core::Duration ttl) {
  switch (status) {
    case lease::RenewStatus::renewed: {
      JsonObject json;
      json.field("renewed", true).field("ttl_ms", ttl);
      return json_reply(http::status::ok, "renewed", json.finish());
    }
    case lease::RenewStatus::lost:
      return error_reply(http::status::conflict, "lost",
                         "the lease on key " + quoted(key) +
                             " is no longer held with this token (expired, released or forced); acquire it again");
    case lease::RenewStatus::backend_down:
      break;
  }
  return backend_down_reply({});
}

Reply release_reply(lease::ReleaseStatus status, std::string_view /*key*/) {
  if (status == lease::ReleaseStatus::backend_down) return backend_down_reply({});
  const bool released = status == lease::ReleaseStatus::released;
  JsonObject json;
  json.field("released", released);
  return json_reply(http::status::ok, released ? "released" : "not_held", json.finish());
}

Reply inspect_reply(const std::optional<lease::LeaseInfo>& info, std::string_view key) {
  if (!info) return error_reply(http::status::not_found, "no_lease", "no lease is held on key " + quoted(key));
  return json_reply(http::status::ok, "lease", lease::lease_info_json(*info, lease_id_name));
}

Reply list_reply(const lease::LeasePage& page) {
  return json_reply(http::status::ok, "leases", lease::lease_page_json(page, lease_id_name));
}

http::response<http::string_body> to_response(const Reply& reply, bool keep_alive) {
  http::response<http::string_body> response{reply.status, 11};
  response.set(http::field::content_type, reply.content_type);
  response.set(http::field::cache_control, "no-store");
  if (reply.retry_after) response.set(http::field::retry_after, std::to_string(reply.retry_after->count()));
  if (!reply.allow.empty()) response.set(http::field::allow, reply.allow);
  response.body() = reply.body;
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

}  // namespace baton::lockd
