#include "baton/proxy/admin_api.hpp"

#include "baton/lease/lease_json.hpp"
#include "baton/proxy/admin_page.hpp"
#include "baton/proxy/error_response.hpp"
#include "baton/proxy/lease_stream.hpp"
#include "baton/proxy/routes.hpp"
#include "baton/proxy/session_id.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <optional>

namespace baton::proxy {
namespace {

constexpr std::string_view session_field = "session";  // the id's name in lease JSON
constexpr std::size_t max_cursor_length = 256;
constexpr std::size_t max_quoted_length = 64;  // what messages quote of a client's input
constexpr std::string_view placeholder = "{}";
constexpr std::string_view event_stream_type = "text/event-stream";
constexpr std::string_view html_type = "text/html";

// ---- The request target ---------------------------------------------------------------

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  for (;;) {
    const auto at = text.find(separator);
    pieces.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return pieces;
    text.remove_prefix(at + 1);
  }
}

// "/leases/a%3Ab" -> {"leases", "a:b"}. Split before decoding, so that "%2F" stays
// inside its segment. nullopt for a malformed escape.
std::optional<std::vector<std::string>> path_segments(std::string_view path) {
  std::vector<std::string> segments;
  for (const auto piece : split(path.substr(1), '/')) {
    std::string segment;
    if (!percent_decode(piece, /*plus_as_space=*/false, segment)) return std::nullopt;
    segments.push_back(std::move(segment));
  }
  return segments;
}

std::optional<std::vector<QueryParameter>> query_parameters(std::string_view target) {
  std::vector<QueryParameter> query;
  const auto question_mark = target.find('?');
  if (question_mark == std::string_view::npos) return query;
  for (const auto pair : split(target.substr(question_mark + 1), '&')) {
    if (pair.empty()) continue;
    const auto equals = pair.find('=');
    QueryParameter parameter;
    const auto value = equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    if (!percent_decode(pair.substr(0, equals), true, parameter.name) ||
        !percent_decode(value, true, parameter.value))
      return std::nullopt;
    query.push_back(std::move(parameter));
  }
  return query;
}

// ---- Query parameters -----------------------------------------------------------------

const std::string* find_parameter(const AdminCall& call, std::string_view name) {
  const auto it = std::find_if(call.query.begin(), call.query.end(),
                               [name](const QueryParameter& parameter) { return parameter.name == name; });
  return it == call.query.end() ? nullptr : &it->value;
}

AdminResponse bad_request(const AdminCall& call, std::string_view code, const std::string& message) {
  return error_response(call, http::status::bad_request, code, message);
}

// Unknown and repeated names are errors, so that a typo ("limt=") never falls back to a
// default unnoticed.
std::optional<AdminResponse> reject_parameters(const AdminCall& call,
                                               std::initializer_list<std::string_view> accepted) {
  for (auto it = call.query.begin(); it != call.query.end(); ++it) {
    const std::string shown = printable(it->name, max_quoted_length);
    if (std::find(accepted.begin(), accepted.end(), it->name) == accepted.end()) {
      std::string names;
      for (const auto name : accepted) names.append(names.empty() ? "" : ", ").append(name);
      return bad_request(call, "unknown_parameter",
                         "unknown query parameter '" + shown + "'; this resource takes " +
                             (names.empty() ? std::string("none") : names));
    }
    const auto same_name = [&it](const QueryParameter& other) { return other.name == it->name; };
    if (std::any_of(call.query.begin(), it, same_name))
      return bad_request(call, "duplicate_parameter", "query parameter '" + shown + "' is given more than once");
  }
  return std::nullopt;
}

std::optional<std::size_t> whole_number(std::string_view text) {
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_visible_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// The session of /leases/{sid}, or the 400 for it.
std::optional<AdminResponse> reject_session(const AdminCall& call) {
  if (lease::is_valid_session_id(call.path_parameters.at(0))) return std::nullopt;
  return bad_request(call, "bad_session",
                     "the session id must be 1 to 128 characters of letters, digits and . _ : @ = + / - "
                     "(a '/' written as %2F)");
}

std::optional<AdminResponse> reject_unreachable_store(AdminBackend& backend, const AdminCall& call) {
  const std::string problem = backend.lease_store_problem();
  if (problem.empty()) return std::nullopt;
  auto response = error_response(call, http::status::service_unavailable, "backend_down",
                                 "the lease store cannot be reached: " + problem);
  response.set(http::field::retry_after, "1");
  return response;
}

// ?scope=: true for local (this instance's leases only), false for all (the default).
std::optional<AdminResponse> reject_scope(const AdminCall& call, bool& local_only) {
  local_only = false;
  const std::string* scope = find_parameter(call, "scope");
  if (scope == nullptr) return std::nullopt;
  if (*scope != "local" && *scope != "all")
    return bad_request(call, "bad_scope", "scope: expected local (this instance's leases) or all");
  local_only = *scope == "local";
  return std::nullopt;
}

// ?reason= as audit lines quote it.
std::string reason_of(const AdminCall& call) {
  const std::string* reason = find_parameter(call, "reason");
  return reason == nullptr || reason->empty() ? std::string("(none given)") : printable(*reason, max_reason_length);
}

// ---- Handlers -------------------------------------------------------------------------

// The page's own requests come with Sec-Fetch-Site: same-origin. A stream opened from
// another site (a page the operator's browser happens to show) could not read it, but
// would hold one of the few stream slots.
bool from_another_site(const AdminCall& call) {
  const std::string& site = call.request.fetch_site;
  return !site.empty() && site != "same-origin" && site != "none";
}

AdminReply stream_leases(AdminBackend& backend, const AdminCall& call) {
  if (auto rejection = reject_parameters(call, {"scope"})) return std::move(*rejection);
  bool local_only = false;
  if (auto rejection = reject_scope(call, local_only)) return std::move(*rejection);
  if (from_another_site(call))
    return error_response(call, http::status::forbidden, "cross_site",
                          "lease streams are served to pages of this admin listener only");
  if (auto rejection = reject_unreachable_store(backend, call)) return std::move(*rejection);
  auto slot = backend.stream_slots().take();
  if (!slot) {
    auto busy = error_response(call, http::status::service_unavailable, "too_many_streams",
                               "already " + std::to_string(backend.stream_slots().capacity()) +
                                   " lease streams open; close one, or try again later");
    busy.set(http::field::retry_after, "5");
    return busy;
  }
  AdminResponse head{http::status::ok, 11};
  head.set(http::field::content_type, event_stream_type);
  head.set(http::field::cache_control, "no-store");
  head.set("X-Accel-Buffering", "no");  // an nginx in front must not hold events back
  head.set("X-Request-Id", call.request_id);
  return AdminReply(std::move(head), make_lease_stream(backend, std::move(*slot), local_only));
}

// One resource, three representations, by Accept: the event stream, the page, or JSON
// (also for */* and anything else).
Awaitable<AdminReply> list_leases(AdminBackend& backend, AdminCall call) {
  if (accepts_media_type(call.request.accept, event_stream_type)) co_return stream_leases(backend, call);
  if (accepts_media_type(call.request.accept, html_type)) {
    if (auto rejection = reject_parameters(call, {})) co_return std::move(*rejection);
    co_return leases_page(call);
  }
  if (auto rejection = reject_parameters(call, {"cursor", "limit", "scope"})) co_return std::move(*rejection);
  std::string cursor;
  if (const std::string* given = find_parameter(call, "cursor")) cursor = *given;
  if (cursor.size() > max_cursor_length || !is_visible_ascii(cursor))
    co_return bad_request(call, "bad_cursor", "cursor: pass back the next_cursor of the previous page");
  std::size_t limit = default_lease_limit;
  if (const std::string* given = find_parameter(call, "limit")) {
    const auto value = whole_number(*given);
    if (!value || *value < 1 || *value > max_lease_limit)
      co_return bad_request(call, "bad_limit",
                            "limit: expected a whole number from 1 to " + std::to_string(max_lease_limit));
    limit = *value;
  }
  bool local_only = false;
  if (auto rejection = reject_scope(call, local_only)) co_return std::move(*rejection);
  if (auto rejection = reject_unreachable_store(backend, call)) co_return std::move(*rejection);

  lease::LeasePage page = co_await backend.leases().list(std::move(cursor), limit);
  if (local_only) {
    const std::string& self = backend.instance_id();
    std::erase_if(page.leases, [&self](const lease::LeaseInfo& info) { return info.instance != self; });
  }
  co_return json_response(call, http::status::ok, lease::lease_page_json(page, session_field));
}

Awaitable<AdminReply> show_lease(AdminBackend& backend, AdminCall call) {
  if (auto rejection = reject_parameters(call, {})) co_return std::move(*rejection);
  if (auto rejection = reject_session(call)) co_return std::move(*rejection);
  if (auto rejection = reject_unreachable_store(backend, call)) co_return std::move(*rejection);
  const std::string session = call.path_parameters[0];
  const auto info = co_await backend.leases().inspect(session);
  if (!info) co_return error_response(call, http::status::not_found, "no_lease", "session '" + session + "' is free");
  co_return json_response(call, http::status::ok, lease::lease_info_json(*info, session_field));
}

Awaitable<AdminReply> force_release_lease(AdminBackend& backend, AdminCall call) {
  if (auto rejection = reject_parameters(call, {"reason"})) co_return std::move(*rejection);
  if (auto rejection = reject_session(call)) co_return std::move(*rejection);
  if (auto rejection = reject_unreachable_store(backend, call)) co_return std::move(*rejection);
  const std::string session = call.path_parameters[0];
  const auto ended = co_await backend.leases().force_release(session);
  if (!ended) co_return error_response(call, http::status::not_found, "no_lease", "session '" + session + "' is free");
  backend.lease_force_released();
  // The request that held the lease runs on; its own release later finds nothing to end.
  spdlog::warn("audit: {} from {} force-released the lease on session {} (holder {}, request {}, route {}, "
               "fence {}, {} waiting); reason: {}",
               call.who, call.request.peer, session, ended->instance, printable(ended->request_id, 128),
               ended->route, ended->fence, ended->waiters, reason_of(call));
  std::string body = R"({"released":true,"lease":)";
  body.append(lease::lease_info_json(*ended, session_field)).append("}");
  co_return json_response(call, http::status::ok, std::move(body));
}

Awaitable<AdminReply> show_metrics(AdminBackend& backend, AdminCall call) {
  AdminResponse response{http::status::ok, 11};
  response.set(http::field::content_type, prometheus_content_type);
  response.set(http::field::cache_control, "no-store");
  response.set("X-Request-Id", call.request_id);
  response.body() = backend.metrics_text();
  response.prepare_payload();
  co_return response;
}

Awaitable<AdminReply> show_health(AdminBackend& /*backend*/, AdminCall call) {
  co_return json_response(call, http::status::ok, R"({"status":"ok"})");
}

// {"status": "ready" | "not_ready" | "draining", "checks": {name: "ok" | problem}}, with
// "error" and "message" as in every error body when it is not ready.
std::string readiness_json(std::string_view status, const std::vector<DependencyCheck>& checks,
                           std::string_view message, std::string_view request_id) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  const auto text = [&json](std::string_view value) {
    json.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  json.StartObject();
  json.Key("status");
  text(status);
  if (!message.empty()) {
    json.Key("error");
    text(status);
    json.Key("message");
    text(message);
    json.Key("request_id");
    text(request_id);
  }
  json.Key("checks");
  json.StartObject();
  for (const auto& check : checks) {
    json.Key(check.name.data(), static_cast<rapidjson::SizeType>(check.name.size()));
    text(check.problem.empty() ? std::string_view("ok") : std::string_view(check.problem));
  }
  json.EndObject();
  json.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Awaitable<AdminReply> show_readiness(AdminBackend& backend, AdminCall call) {
  // While draining, the dependencies do not matter: the load balancer must look elsewhere.
  std::vector<DependencyCheck> checks;
  if (backend.draining()) {
    std::string body = readiness_json("draining", checks, "baton-proxy is draining", call.request_id);
    co_return json_response(call, http::status::service_unavailable, std::move(body));
  }
  checks = co_await backend.check_dependencies();
  std::string failed;
  for (const auto& check : checks) {
    if (check.decides_readiness && !check.problem.empty()) failed.append(failed.empty() ? "" : "; ").append(check.name + ": " + check.problem);
  }
  const bool ready = failed.empty();
  std::string body = readiness_json(ready ? "ready" : "not_ready", checks, failed, call.request_id);
  co_return json_response(call, ready ? http::status::ok : http::status::service_unavailable, std::move(body));
}

Awaitable<AdminReply> drain(AdminBackend& backend, AdminCall call) {
  if (auto rejection = reject_parameters(call, {"reason"})) co_return std::move(*rejection);
  spdlog::warn("audit: {} from {} started a drain (POST /drain); reason: {}", call.who, call.request.peer,
               reason_of(call));
  backend.start_drain();
  co_return json_response(call, http::status::accepted, R"({"status":"draining"})");
}

// ---- Routing --------------------------------------------------------------------------

std::vector<std::string> pattern_segments(std::string_view path) {
  std::vector<std::string> segments;
  for (const auto piece : split(path.substr(1), '/')) {
    const bool is_placeholder = piece.size() >= 2 && piece.front() == '{' && piece.back() == '}';
    segments.emplace_back(is_placeholder ? placeholder : piece);
  }
  return segments;
}

// The placeholders' values when `segments` fit the pattern.
std::optional<std::vector<std::string>> match_path(const std::vector<std::string>& pattern,
                                                   const std::vector<std::string>& segments) {
  if (pattern.size() != segments.size()) return std::nullopt;
  std::vector<std::string> parameters;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == placeholder && !segments[i].empty()) {
      parameters.push_back(segments[i]);
    } else if (pattern[i] != segments[i]) {
      return std::nullopt;
    }
  }
  return parameters;
}

AdminResponse unauthorized(const AdminCall& call, bool any_token_configured) {
  const std::string_view message =
      any_token_configured ? "this request needs an admin token: Authorization: Bearer <token>"
                           : "this request needs an admin token, and none is configured (admin.token, admin.tokens)";
  auto response = error_response(call, http::status::unauthorized, "unauthorized", message);
  response.set(http::field::www_authenticate, R"(Bearer realm="baton-admin")");
  return response;
}

// The page alone is static and holds no data (what it shows comes from the stream, which
// needs what every other request needs), and a browser cannot send a bearer token when
// it opens a URL: so it is served without one, also off loopback.
bool is_page_request(const AdminRequest& request) {
  return request.method == http::verb::get && request_path(request.target) == "/leases" &&
         accepts_media_type(request.accept, html_type) && !accepts_media_type(request.accept, event_stream_type);
}

// Without a token, a loopback listener answers only requests addressed to the loopback
// by IP address or as "localhost": a web page whose own name an attacker points at
// 127.0.0.1 (DNS rebinding) sends its own name in Host, and is refused.
bool addressed_to_loopback(std::string_view host) {
  if (host.starts_with('[')) {
    const auto end = host.find(']');
    if (end == std::string_view::npos) return false;
    host = host.substr(1, end - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (beast::iequals(host, "localhost")) return true;
  beast::error_code error;
  const auto address = net::ip::make_address(host, error);
  return !error && address.is_loopback();
}

AdminResponse forbidden(const AdminCall& call) {
  auto response = error_response(call, http::status::forbidden, "forbidden",
                                 "the bearer token is not one of the configured admin tokens");
  response.set(http::field::www_authenticate, R"(Bearer realm="baton-admin", error="invalid_token")");
  return response;
}

}  // namespace

std::vector<AdminRoute> admin_routes() {
  return {
      {http::verb::get, "/leases", list_leases},
      {http::verb::get, "/leases/{sid}", show_lease},
      {http::verb::delete_, "/leases/{sid}", force_release_lease},
      {http::verb::get, "/metrics", show_metrics},
      {http::verb::get, "/healthz", show_health},
      {http::verb::get, "/readyz", show_readiness},
      {http::verb::post, "/drain", drain},
  };
}

AdminApi::AdminApi(AdminBackend& backend, const AdminAuth& auth, bool loopback, std::vector<AdminRoute> routes)
    : backend_(backend), auth_(auth), loopback_(loopback) {
  for (const auto& route : routes) routes_.push_back({route.method, pattern_segments(route.path), route.handler});
}

Awaitable<AdminReply> AdminApi::handle(AdminRequest request) {
  AdminCall call;
  call.request_id = std::string(request_ids_.next());
  call.request = std::move(request);
  const AdminRequest& head = call.request;

  // Who asks comes first: off loopback, not even a 404 is given away without a token.
  const AuthResult auth = auth_.check(head.authorization);
  if (auth.status == AuthStatus::refused) {
    spdlog::warn("admin: {} {} from {} refused: wrong bearer token", http::to_string(head.method),
                 printable(request_path(head.target), max_quoted_length), head.peer);
    co_return forbidden(call);
  }
  if (auth.status == AuthStatus::anonymous && token_required(head.method, loopback_) && !is_page_request(head))
    co_return unauthorized(call, auth_.has_tokens());
  if (auth.status == AuthStatus::anonymous && !is_page_request(head) && !addressed_to_loopback(head.host)) {
    co_return error_response(call, http::status::forbidden, "host_not_local",
                             "without a token the admin endpoint answers only requests to 127.0.0.1, [::1] or localhost");
  }
  call.who = auth.who;

  if (!head.target.starts_with('/'))
    co_return bad_request(call, "bad_target", "expected a request target that starts with '/'");
  const auto segments = path_segments(request_path(head.target));
  auto query = query_parameters(head.target);
  if (!segments || !query) co_return bad_request(call, "bad_target", "malformed %-escape in the request target");
  call.query = std::move(*query);

  std::string allow;
  for (const auto& route : routes_) {
    auto parameters = match_path(route.segments, *segments);
    if (!parameters) continue;
    if (route.method == head.method) {
      call.path_parameters = std::move(*parameters);
      const AdminHandler handler = route.handler;
      co_return co_await handler(backend_, std::move(call));
    }
    allow.append(allow.empty() ? "" : ", ").append(http::to_string(route.method));
  }
  if (allow.empty()) {
    co_return error_response(call, http::status::not_found, "not_found",
                             "no such resource; the admin API is /leases, /leases/{sid}, /metrics, /healthz, "
                             "/readyz and /drain");
  }
  auto response = error_response(call, http::status::method_not_allowed, "method_not_allowed",
                                 "this resource takes " + allow);
  response.set(http::field::allow, allow);
  response.prepare_payload();
  co_return response;
}

AdminResponse AdminApi::unreadable(http::status status, std::string_view code, std::string_view message) {
  AdminCall call;
  call.request_id = std::string(request_ids_.next());
  return error_response(call, status, code, message);
}

AdminResponse json_response(const AdminCall& call, http::status status, std::string body) {
  AdminResponse response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.set("X-Request-Id", call.request_id);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

AdminResponse error_response(const AdminCall& call, http::status status, std::string_view code,
                             std::string_view message) {
  const ErrorReply reply{.status = status, .code = code, .message = message};
  return make_error_response(reply, call.request_id, /*keep_alive=*/true);
}

bool accepts_media_type(std::string_view accept, std::string_view media_type) {
  const auto trim = [](std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  };
  const auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto range : split(accept, ',')) {
    const auto parameters = split(range, ';');
    if (!same(trim(parameters.front()), media_type)) continue;
    bool refused = false;  // q=0: "not this one"
    for (std::size_t i = 1; i < parameters.size(); ++i) {
      const auto parameter = trim(parameters[i]);
      if (parameter.size() < 2 || !same(parameter.substr(0, 2), "q=")) continue;
      const auto weight = parameter.substr(2);
      refused = !weight.empty() && weight.find_first_not_of("0.") == std::string_view::npos;
    }
    if (!refused) return true;
  }
  return false;
}

std::string printable(std::string_view text, std::size_t max_length) {
  std::string shown(text.substr(0, max_length));
  std::replace_if(shown.begin(), shown.end(), [](char c) { return c < ' ' || c >= 0x7f; }, '?');
  if (text.size() > max_length) shown.append("...");
  return shown;
}

}  // namespace baton::proxy
