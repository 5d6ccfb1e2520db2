// baton-proxy's admin API apart from sockets: one request in, one response out.
//
//   GET    /leases?cursor=&limit=&scope=   held leases of every baton on the store, paged;
//                                          Accept: text/html, the live page (admin_page.hpp);
//                                          Accept: text/event-stream, the live feed (lease_stream.hpp)
//   GET    /leases/{sid}                   one session's lease; 404 when it is free
//   DELETE /leases/{sid}?reason=           force release, written to the log as an audit line
//   GET    /metrics                        Prometheus text format 0.0.4
//   GET    /healthz                        the process is alive
//   GET    /readyz                         Redis and the engine reachable, and not draining
//   POST   /drain?reason=                  the drain SIGTERM starts
//
// Authentication (admin_auth.hpp), the request target, 404 and 405 are settled here,
// then a route table hands the request to its handler. Handlers act through
// AdminBackend, which the server implements with real I/O and tests with fakes. Every
// error body is the proxy's {"error", "message", "request_id"} (error_response.hpp).
// A handler answers with a whole response, or with a head and a stream that the server
// writes as it is produced (admin_stream.hpp).
#pragma once

#include "baton/core/asio.hpp"
#include "baton/lease/lease_store.hpp"
#include "baton/proxy/admin_auth.hpp"
#include "baton/proxy/admin_stream.hpp"
#include "baton/proxy/request_id.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace baton::proxy {

inline constexpr std::size_t default_lease_limit = 100;  // GET /leases without limit=
inline constexpr std::size_t max_lease_limit = 1000;
inline constexpr std::size_t max_reason_length = 256;  // ?reason=, as audit lines quote it
inline constexpr std::size_t max_lease_streams = 16;   // open at once per process; beyond: 503

inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4";

using AdminResponse = http::response<http::string_body>;

// What a handler answers: a whole response, or the head of a stream and the stream.
struct AdminReply {
  AdminReply() = default;
  // Implicit, so that a handler co_returns a whole response as it is.
  AdminReply(AdminResponse whole) : response(std::move(whole)) {}
  AdminReply(AdminResponse head, AdminStreamPtr body) : response(std::move(head)), stream(std::move(body)) {}

  AdminResponse response;  // with `stream`: status and fields only, no body
  AdminStreamPtr stream;   // null for a whole response
};

// One check of GET /readyz.
struct DependencyCheck {
  std::string name;     // "redis", "engine"
  std::string problem;  // empty when it passed
  // A check that does not decide readiness is still shown: with on_backend_down:
  // fail_open, requests go on without Redis, so the pod stays in the Service.
  bool decides_readiness = true;
};

// What the API acts on: the server's lease store, dependencies, metrics and drain. Its
// calls run on the admin thread.
class AdminBackend {
public:
  virtual ~AdminBackend() = default;

  virtual const std::string& instance_id() const = 0;
  virtual lease::LeaseStore& leases() = 0;
  // Empty when the lease store can be asked; otherwise why not. The store answers "no
  // lease" when it cannot reach Redis, which would read as "everything is free".
  virtual std::string lease_store_problem() = 0;
  // Each dependency readiness depends on, checked now within a short timeout.
  virtual Awaitable<std::vector<DependencyCheck>> check_dependencies() = 0;
  virtual std::string metrics_text() = 0;
  virtual bool draining() const = 0;
  // Starts the process's drain, unless it drains already; returns at once.
  virtual void start_drain() = 0;
  // An operator's DELETE ended a lease (for metrics).
  virtual void lease_force_released() {}
  // Bounds the lease streams open at once (max_lease_streams).
  virtual StreamSlots& stream_slots() = 0;
};

struct QueryParameter {
  std::string name;
  std::string value;  // percent-decoded, '+' as a space
};

// A request as the API sees it: the head only (admin requests have no body).
struct AdminRequest {
  http::verb method = http::verb::get;
  std::string target;
  std::string authorization;  // the Authorization field; empty when absent
  std::string accept;         // the Accept field, for handlers that offer more than JSON
  std::string fetch_site;     // Sec-Fetch-Site, sent by browsers; empty when absent
  std::string host;           // the Host field
  std::string peer;           // the client's address and port, for audit lines
};

// What a handler gets: the request, taken apart and authenticated.
struct AdminCall {
  AdminRequest request;
  std::vector<std::string> path_parameters;  // what the route's "{...}" segments matched, decoded
  std::vector<QueryParameter> query;         // in order of appearance
  std::string who;                           // the token's name; empty without a token
  std::string request_id;                    // X-Request-Id of the response
};

// A handler: a coroutine function (arguments by value, nothing captured).
using AdminHandler = Awaitable<AdminReply> (*)(AdminBackend& backend, AdminCall call);

// One row of the route table. `path` is literal segments and "{name}" placeholders,
// each matching one whole segment: "/leases/{sid}".
struct AdminRoute {
  http::verb method;
  std::string_view path;
  AdminHandler handler;
};

// The routes listed at the top of this file.
std::vector<AdminRoute> admin_routes();

class AdminApi {
public:
  // `loopback`: whether the listener is on a loopback address (see token_required).
  AdminApi(AdminBackend& backend, const AdminAuth& auth, bool loopback,
           std::vector<AdminRoute> routes = admin_routes());

  // Runs on the admin thread, one call at a time per connection; answers everything a
  // client may send, with an error response where needed.
  Awaitable<AdminReply> handle(AdminRequest request);

  // The answer to a request that cannot be read (408, 413, 431, 400): no route saw it.
  AdminResponse unreadable(http::status status, std::string_view code, std::string_view message);

private:
  struct CompiledRoute {
    http::verb method;
    std::vector<std::string> segments;  // "{}" for a placeholder
    AdminHandler handler;
  };

  AdminBackend& backend_;
  const AdminAuth& auth_;
  bool loopback_;
  std::vector<CompiledRoute> routes_;
  RequestIdGenerator request_ids_;
};

// Helpers for handlers: JSON and error responses with Cache-Control: no-store and the
// call's X-Request-Id.
AdminResponse json_response(const AdminCall& call, http::status status, std::string body);
AdminResponse error_response(const AdminCall& call, http::status status, std::string_view code,
                             std::string_view message);

// True when an Accept field lists `media_type` itself ("text/html", any case) with a
// quality above 0. Wildcards ("*/*", "text/*") do not count: they get the default, JSON.
bool accepts_media_type(std::string_view accept, std::string_view media_type);

// Text that a client sent, made safe to quote in a message or a log line: printable
// ASCII ('?' for anything else), at most `max_length` characters, then "...".
std::string printable(std::string_view text, std::size_t max_length);

}  // namespace baton::proxy
