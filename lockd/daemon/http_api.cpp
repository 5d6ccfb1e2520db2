#include "http_api.hpp"

#include "request_target.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <optional>
#include <stdexcept>

namespace baton::lockd {
namespace {

using Segments = std::vector<std::string>;

constexpr std::size_t max_name_length = 128;   // instance=, request_id=
constexpr std::size_t max_token_length = 256;  // token=, cursor=

bool is_visible_ascii(std::string_view text, std::size_t max_length) {
  return !text.empty() && text.size() <= max_length &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// Messages quote what the client sent; whatever that was, they stay printable ASCII (and
// so valid UTF-8 in the JSON body).
std::string printable(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c < ' ' || c >= 0x7f; }, '?');
  return text;
}

// A parameter name as messages quote it: short as well.
std::string shown(std::string_view name) {
  constexpr std::size_t max_shown = 64;
  std::string text(name.substr(0, max_shown));
  if (name.size() > max_shown) text.append("...");
  return text;
}

Reply bad_request(std::string_view code, std::string message) {
  return error_reply(http::status::bad_request, code, message);
}

// The query parameters of one route. Unknown and repeated names are errors, so that a
// typo such as "tll=" never falls back to a default unnoticed. The first problem found
// is kept and becomes the reply; the getters then return their fallbacks.
class Parameters {
public:
  Parameters(const std::vector<QueryParameter>& query, std::initializer_list<std::string_view> accepted)
      : query_(query) {
    for (auto it = query.begin(); it != query.end(); ++it) {
      if (std::find(accepted.begin(), accepted.end(), it->name) == accepted.end()) {
        std::string expected;
        for (const auto name : accepted) expected += (expected.empty() ? "" : ", ") + std::string(name);
        reject("unknown_parameter", "unknown query parameter '" + shown(it->name) + "'; this route takes " +
                                        (expected.empty() ? std::string("none") : expected));
        return;
      }
      if (std::any_of(query.begin(), it, [&it](const QueryParameter& p) { return p.name == it->name; })) {
        reject("duplicate_parameter", "query parameter '" + shown(it->name) + "' is given more than once");
        return;
      }
    }
  }

  const std::string* find(std::string_view name) const {
    const auto it = std::find_if(query_.begin(), query_.end(), [name](const QueryParameter& p) { return p.name == name; });
    return it == query_.end() ? nullptr : &it->value;
  }

  // A duration in [minimum, maximum]; `code` names the error ("bad_ttl").
  core::Duration duration(std::string_view name, std::string_view code, core::Duration fallback,
                          core::Duration minimum, core::Duration maximum, std::string_view limit_key) {
    const std::string* text = find(name);
    if (text == nullptr) return fallback;
    core::Duration value{};
    try {
      value = core::parse_duration(*text);
    } catch (const std::invalid_argument& error) {
      reject(code, std::string(name) + ": " + error.what());
      return fallback;
    }
    if (value < minimum) {
      reject(code, std::string(name) + ": must be at least " + core::format_duration(minimum) + ", got " +
                       core::format_duration(value));
    } else if (value > maximum) {
      reject(code, std::string(name) + ": must be at most " + core::format_duration(maximum) + " (" +
                       std::string(limit_key) + "), got " + core::format_duration(value));
    }
    return value;
  }

  // Printable ASCII without spaces, up to `max_length`; `fallback` when absent.
  std::string name(std::string_view name, std::string_view code, std::string_view fallback, std::size_t max_length) {
    const std::string* text = find(name);
    if (text == nullptr) return std::string(fallback);
    if (!is_visible_ascii(*text, max_length)) {
      reject(code, std::string(name) + ": expected 1 to " + std::to_string(max_length) +
                       " printable ASCII characters without spaces");
    }
    return *text;
  }

  std::string required_token() {
    if (find("token") == nullptr) {
      reject("missing_token", "token is required: the token that the acquire returned");
      return {};
    }
    return name("token", "bad_token", "", max_token_length);
  }

  std::size_t list_limit() {
    const std::string* text = find("limit");
    if (text == nullptr) return default_list_limit;
    std::size_t value = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || end != text->data() + text->size() || value < 1 || value > max_list_limit) {
      reject("bad_limit", "limit: expected a whole number from 1 to " + std::to_string(max_list_limit));
      return default_list_limit;
    }
    return value;
  }

  // The first problem, if any.
  std::optional<Reply> rejection() && { return std::move(rejection_); }

private:
  void reject(std::string_view code, std::string message) {
    if (!rejection_) rejection_ = bad_request(code, printable(std::move(message)));
  }

  const std::vector<QueryParameter>& query_;
  std::optional<Reply> rejection_;
};

std::optional<Reply> check_key(std::string_view key) {
  if (lease::is_valid_session_id(key)) return std::nullopt;
  return bad_request("bad_key",
                     "the key must be 1 to 128 characters without spaces, braces, glob or control characters "
                     "(letters, digits and . _ : - are always accepted)");
}

Decision acquire(const std::string& key, const RequestTarget& target, const ApiSettings& settings) {
  Parameters parameters(target.query, {"ttl", "wait", "instance", "request_id"});
  lease::LeaseRequest request;
  request.session = key;
  request.route = std::string(lease_route);
  request.max_waiters = settings.max_waiters;
  request.ttl = parameters.duration("ttl", "bad_ttl", settings.default_ttl, settings.min_ttl, settings.max_ttl,
                                    "limits.max_ttl");
  request.wait = parameters.duration("wait", "bad_wait", settings.default_wait, core::Duration::zero(),
                                     settings.max_wait, "limits.max_wait");
  request.instance = parameters.name("instance", "bad_instance", default_caller_instance, max_name_length);
  request.request_id = parameters.name("request_id", "bad_request_id", "", max_name_length);
  if (auto rejection = std::move(parameters).rejection()) return std::move(*rejection);
  return AcquireCall{std::move(request)};
}

Decision renew(const std::string& key, const RequestTarget& target, const ApiSettings& settings) {
  Parameters parameters(target.query, {"token", "ttl"});
  RenewCall call;
  call.lease.session = key;
  call.lease.token = parameters.required_token();
  call.ttl = parameters.duration("ttl", "bad_ttl", settings.default_ttl, settings.min_ttl, settings.max_ttl,
                                 "limits.max_ttl");
  call.lease.ttl = call.ttl;
  if (auto rejection = std::move(parameters).rejection()) return std::move(*rejection);
  return call;
}

Decision release(const std::string& key, const RequestTarget& target) {
  Parameters parameters(target.query, {"token"});
  ReleaseCall call;
  call.lease.session = key;
  call.lease.token = parameters.required_token();
  if (auto rejection = std::move(parameters).rejection()) return std::move(*rejection);
  return call;
}

Decision inspect(const std::string& key, const RequestTarget& target) {
  Parameters parameters(target.query, {});
  if (auto rejection = std::move(parameters).rejection()) return std::move(*rejection);
  return InspectCall{key};
}

Decision list(const RequestTarget& target) {
  Parameters parameters(target.query, {"cursor", "limit"});
  ListCall call;
  // "cursor=" is the first page, as is no cursor at all.
  if (const std::string* cursor = parameters.find("cursor"); cursor != nullptr && !cursor->empty())
    call.cursor = parameters.name("cursor", "bad_cursor", "", max_token_length);
  call.limit = parameters.list_limit();
  if (auto rejection = std::move(parameters).rejection()) return std::move(*rejection);
  return call;
}

// /v1/leases/{key} and /v1/leases/{key}/renew
Decision lease_route_of_key(http::verb method, const RequestTarget& target, const ApiSettings& settings) {
  const std::string& key = target.segments[2];
  const bool is_renew = target.segments.size() == 4;
  if (is_renew && method != http::verb::post) return method_not_allowed("POST");
  if (!is_renew && method != http::verb::post && method != http::verb::get && method != http::verb::delete_)
    return method_not_allowed("GET, POST, DELETE");
  if (auto bad_key = check_key(key)) return std::move(*bad_key);
  if (is_renew) return renew(key, target, settings);
  if (method == http::verb::post) return acquire(key, target, settings);
  if (method == http::verb::delete_) return release(key, target);
  return inspect(key, target);
}

bool is_path(const Segments& segments, std::initializer_list<std::string_view> expected) {
  return std::equal(segments.begin(), segments.end(), expected.begin(), expected.end());
}

bool is_under_leases(const Segments& segments) {
  return segments.size() >= 2 && segments[0] == "v1" && segments[1] == "leases";
}

Reply not_found() {
  return error_reply(http::status::not_found, "not_found",
                     "no such resource; the API is /v1/leases, /v1/leases/{key}, /v1/leases/{key}/renew, "
                     "/healthz and /metrics");
}

}  // namespace

ApiSettings ApiSettings::from(const core::LockdConfig& config) {
  ApiSettings settings;
  settings.default_ttl = config.lease.ttl;
  settings.default_wait = config.lease.wait_timeout;
  settings.max_ttl = config.limits.max_ttl;
  settings.max_wait = config.limits.max_wait;
  settings.max_waiters = config.lease.max_waiters;
  return settings;
}

Decision decide(http::verb method, std::string_view target_text, const ApiSettings& settings) {
  auto parsed = parse_request_target(target_text);
  if (const auto* error = std::get_if<TargetError>(&parsed)) return bad_request("bad_target", error->message);
  const RequestTarget& target = std::get<RequestTarget>(parsed);
  const Segments& segments = target.segments;

  // Probes and scrapers may add query parameters of their own; these routes ignore them.
  if (is_path(segments, {"healthz"})) return method == http::verb::get ? Decision(health_reply()) : method_not_allowed("GET");
  if (is_path(segments, {"metrics"})) return method == http::verb::get ? Decision(MetricsCall{}) : method_not_allowed("GET");

  if (is_path(segments, {"v1", "leases"})) return method == http::verb::get ? list(target) : method_not_allowed("GET");
  if (is_under_leases(segments) && segments.size() == 3) return lease_route_of_key(method, target, settings);
  if (is_under_leases(segments) && segments.size() == 4 && segments[3] == "renew")
    return lease_route_of_key(method, target, settings);
  return not_found();
}

}  // namespace baton::lockd
