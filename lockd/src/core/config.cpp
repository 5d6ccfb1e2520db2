// The YAML configuration loaders of baton-proxy and baton-lockd. config_reference() and
// lockd_config_reference() are the single lists of each program's keys: the loader rejects
// any key its list does not name, and docs/configuration.md is kept identical to both.
#include "baton/core/config.hpp"

#include "baton/core/asio.hpp"

#include <unistd.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <regex>
#include <span>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

namespace baton::core {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;

constexpr auto npos = std::string_view::npos;

// ---- Text helpers shared by the value parsers ------------------------------------------

std::invalid_argument invalid(std::string_view what, std::string_view text, std::string_view why) {
  return std::invalid_argument("invalid " + std::string(what) + " '" + std::string(text) +
                               "': " + std::string(why));
}

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit_or_letter(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Removes the leading decimal digits of `text` and returns their value.
std::optional<std::uint64_t> take_number(std::string_view& text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

std::optional<std::uint64_t> parse_whole_number(std::string_view text) {
  const auto number = take_number(text);
  return text.empty() ? number : std::nullopt;
}

std::string_view take_letters(std::string_view& text) {
  const auto length = static_cast<std::size_t>(
      std::find_if_not(text.begin(), text.end(), is_letter) - text.begin());
  const auto letters = text.substr(0, length);
  text.remove_prefix(length);
  return letters;
}

struct Unit {
  std::string_view name;
  std::uint64_t scale;
};

constexpr std::array<Unit, 4> duration_units{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

// Sizes are binary throughout: "16k", "16K" and "16KiB" are all 16384 bytes.
constexpr std::array<Unit, 10> size_units{{{"", 1},
                                           {"k", 1ULL << 10},
                                           {"K", 1ULL << 10},
                                           {"KiB", 1ULL << 10},
                                           {"m", 1ULL << 20},
                                           {"M", 1ULL << 20},
                                           {"MiB", 1ULL << 20},
                                           {"g", 1ULL << 30},
                                           {"G", 1ULL << 30},
                                           {"GiB", 1ULL << 30}}};

std::optional<std::uint64_t> scale_of(std::span<const Unit> units, std::string_view name) {
  const auto unit = std::find_if(units.begin(), units.end(), [name](const Unit& u) { return u.name == name; });
  return unit == units.end() ? std::nullopt : std::optional(unit->scale);
}

// total += amount * scale, unless that would pass `limit`.
bool add_scaled(std::uint64_t& total, std::uint64_t amount, std::uint64_t scale, std::uint64_t limit) {
  if (amount > (limit - total) / scale) return false;
  total += amount * scale;
  return true;
}

// ---- Addresses and URLs ------------------------------------------------------------------

struct Authority {
  std::string host;  // empty when the text had none
  std::optional<std::uint16_t> port;
};

bool is_host_name_char(char c) { return is_digit_or_letter(c) || c == '.' || c == '-' || c == '_'; }
bool is_ipv6_char(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.'; }

std::uint16_t parse_port(std::string_view digits, std::string_view what, std::string_view shown) {
  const auto port = parse_whole_number(digits);
  if (!port || *port < 1 || *port > 65535) throw invalid(what, shown, "expected a port from 1 to 65535");
  return static_cast<std::uint16_t>(*port);
}

// "host", "host:port", "[v6]" or "[v6]:port"; the host may be empty. `shown` is the text
// that error messages quote.
Authority parse_authority(std::string_view text, std::string_view what, std::string_view shown) {
  std::string_view host = text;
  std::optional<std::string_view> port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == npos) throw invalid(what, shown, "missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    const auto after = text.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) throw invalid(what, shown, "expected ':port' after ']'");
    if (!after.empty()) port = after.substr(1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_ipv6_char))
      throw invalid(what, shown, "invalid IPv6 address");
  } else {
    if (const auto colon = text.rfind(':'); colon != npos) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
    if (host.find(':') != npos) throw invalid(what, shown, "an IPv6 address needs brackets, as in [::1]:9901");
    if (!std::all_of(host.begin(), host.end(), is_host_name_char)) throw invalid(what, shown, "invalid host name");
  }
  Authority authority{std::string(host), std::nullopt};
  if (port) authority.port = parse_port(*port, what, shown);
  return authority;
}

HostPort parse_url_address(std::string_view text, std::uint16_t default_port, std::string_view what,
                           std::string_view shown) {
  Authority authority = parse_authority(text, what, shown);
  if (authority.host.empty()) throw invalid(what, shown, "missing host");
  return {std::move(authority.host), authority.port.value_or(default_port)};
}

// The URL as error messages quote it: they get logged, so credentials are masked.
std::string without_credentials(std::string_view url) {
  const auto scheme_end = url.find("://");
  const auto at = url.rfind('@');
  if (scheme_end == npos || at == npos || at < scheme_end) return std::string(url);
  return std::string(url.substr(0, scheme_end + 3)) + "***" + std::string(url.substr(at));
}

std::string percent_decode(std::string_view text, std::string_view what, std::string_view shown) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    const auto hex = text.substr(i + 1, 2);
    unsigned value = 0;
    const auto [end, error] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
    if (hex.size() != 2 || error != std::errc() || end != hex.data() + hex.size())
      throw invalid(what, shown, "bad %-escape in the credentials");
    decoded += static_cast<char>(value);
    i += 2;
  }
  return decoded;
}

int parse_redis_database(std::string_view path, std::string_view shown) {
  if (path.empty() || path == "/") return 0;
  const auto number = parse_whole_number(path.substr(1));
  if (!number || *number > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw invalid("Redis URL", shown, "expected /<database number> after the address, as in /0");
  return static_cast<int>(*number);
}

// ---- Environment references -------------------------------------------------------------

bool is_variable_name(std::string_view name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
         std::all_of(name.begin(), name.end(), [](char c) { return is_digit_or_letter(c) || c == '_'; });
}

// The inside of ${...}: "NAME" or "NAME:-default". Like the shell, the default also
// replaces a variable that is set but empty.
std::string resolve_reference(std::string_view reference) {
  const auto separator = reference.find(":-");
  const std::string name(reference.substr(0, separator));
  if (!is_variable_name(name))
    throw std::invalid_argument("invalid variable name '" + name + "' in ${" + std::string(reference) + "}");
  const char* value = std::getenv(name.c_str());
  if (separator == npos) {
    if (value == nullptr)
      throw std::invalid_argument("environment variable " + name + " is not set (write ${" + name +
                                  ":-default} to give a default)");
    return value;
  }
  const auto fallback = reference.substr(separator + 2);
  if (fallback.find("${") != npos)
    throw std::invalid_argument("nested references are not supported: ${" + std::string(reference) + "}");
  return value != nullptr && *value != '\0' ? std::string(value) : std::string(fallback);
}

// ---- Errors ------------------------------------------------------------------------------

// "file:line:column: key: message"; a whole-file error (line 0) has no position.
std::string describe_error(const std::string& file, int line, int column, const std::string& key,
                           const std::string& message) {
  std::string text = file;
  if (line > 0) text += ":" + std::to_string(line) + ":" + std::to_string(column);
  text += ": ";
  if (!key.empty()) text += key + ": ";
  return text + message;
}

}  // namespace

// ---- Public API: errors, the key reference, value parsers ---------------------------------

ConfigError::ConfigError(std::string file, int line, int column, std::string key, std::string message)
    : std::runtime_error(describe_error(file, line, column, key, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      message_(std::move(message)) {}

const std::vector<KeyReference>& config_reference() {
  static const std::vector<KeyReference> reference{
      {"instance_id", "", "Names this instance as a lease holder and in logs; empty or absent means host name and process id, as in web-1-4242."},
      {"listen", "0.0.0.0:8080", "Address for client traffic, host:port; IPv6 in brackets ([::1]:8080); :8080 means 0.0.0.0:8080."},
      {"threads", "0", "I/O threads, 0 to 1024; 0 means one per CPU core."},
      {"drain_timeout", "30s", "On shutdown, how long requests in flight may still run; 0s closes them at once."},
      {"client", "", "Connections from clients."},
      {"client.header_timeout", "10s", "Time to receive the whole request head; a slower client gets 408."},
      {"client.idle_timeout", "60s", "How long a keep-alive connection may wait for its next request."},
      {"client.send_timeout", "60s", "How long a client may stop reading a response before its connection is closed."},
      {"client.max_header_size", "32KiB", "Request line plus header fields; larger gets 431."},
      {"client.max_body_size", "16MiB", "Request body; larger gets 413."},
      {"upstream", "", "The engine that requests are forwarded to."},
      {"upstream.url", "http://127.0.0.1:3000", "Engine address, http://host[:port] (port 80 by default); no path, TLS or credentials."},
      {"upstream.connect_timeout", "2s", "Connecting to the engine; on expiry the client gets 502."},
      {"upstream.read_timeout", "60s", "Longest silence between two reads from the engine, re-armed on every read; on expiry 504."},
      {"upstream.pool_size", "64", "Idle engine connections kept per thread, at least 1."},
      {"upstream.pool_idle_timeout", "4s", "An idle pooled connection is closed after this; keep it below the engine's keep-alive timeout (Node: 5s)."},
      {"admin", "", "The admin endpoint."},
      {"admin.listen", "127.0.0.1:9901", "Address of the admin endpoint, host:port."},
      {"admin.token", "", "A bearer token the admin endpoint accepts, named 'token' in audit lines; empty means none. Required (here or in tokens) when admin.listen is not a loopback address."},
      {"admin.tokens", "[]", "More accepted bearer tokens (e.g. one per operator, or old and new while rotating): strings, named tokens[i] in audit lines, or maps with name and token."},
      {"admin.tokens[].name", "", "Who uses this token; written in audit lines."},
      {"admin.tokens[].token", "", "The secret; empty means this entry is ignored."},
      {"lease", "", "Per-session leases: one request at a time per session, across instances."},
      {"lease.backend", "redis", "Where leases live: redis (shared by all instances) or memory (this instance only)."},
      {"lease.ttl", "30s", "Lease lifetime, renewed while the request runs; at least 100ms."},
      {"lease.wait_timeout", "10s", "How long a request waits for a busy session; 0s means do not wait."},
      {"lease.max_hold", "10m", "Longest one request may hold a lease, renewals included; at least ttl."},
      {"lease.max_waiters", "64", "Requests that may wait per session, at least 1; beyond that they get 429."},
      {"lease.on_backend_down", "fail_closed", "When the lease backend is unreachable: fail_closed or fail_open."},
      {"redis", "", "The Redis lease backend."},
      {"redis.url", "redis://127.0.0.1:6379/0", "redis:// or rediss:// (TLS), optional user:password@ (percent-encoded), port 6379 by default, /database 0 by default."},
      {"redis.key_prefix", "baton", "Prefix of every Redis key baton writes; not empty, no braces, spaces or control characters."},
      {"redis.connect_timeout", "1s", "Connecting to Redis."},
      {"redis.command_timeout", "1s", "One Redis command round trip."},
      {"session", "", "How the session id of a request is found."},
      {"session.sources", "[{header: X-Session-Id}]", "Where to look for the session id, in order; the first source that yields one wins. Each item is a map with one key."},
      {"session.sources[].header", "", "A request header field, e.g. X-Session-Id."},
      {"session.sources[].cookie", "", "A cookie, e.g. sid."},
      {"session.sources[].query", "", "A query parameter, e.g. sessionId."},
      {"session.sources[].json", "", "A JSON pointer (RFC 6901) into a JSON request body, e.g. /sessionId."},
      {"session.sources[].path", "", "An ECMAScript regex on the path whose first capture group is the id, e.g. '^/sessions/([^/]+)'."},
      {"session.pattern", "'^[A-Za-z0-9._:-]{1,128}$'", "ECMAScript regex that every session id must match."},
      {"session.max_json_body", "64KiB", "How much request body a json source may buffer; larger gets 413."},
      {"logging", "", "Logs."},
      {"logging.level", "info", "trace, debug, info, warn, error, critical or off."},
      {"logging.format", "text", "text or json."},
      {"logging.access_log", "true", "One log line per request: true or false."},
      {"logging.session_ids", "plain", "How the access log names a session: plain (the id) or hash (a keyed hash, the first 16 hex digits of HMAC-SHA256)."},
      {"logging.session_hash_key", "", "The key of session_ids: hash, e.g. ${BATON_SESSION_HASH_KEY}; required then."},
      {"routes", "[{name: /, match: {prefix: /}, lease: none}]", "Request routes; the first that matches wins."},
      {"routes[].name", "", "Label in metrics and logs; the prefix or regex by default; unique."},
      {"routes[].match", "", "What the route matches; required."},
      {"routes[].match.prefix", "", "Path prefix, starting with /; exactly one of prefix and regex."},
      {"routes[].match.regex", "", "ECMAScript regex matched against the path, without the query."},
      {"routes[].match.methods", "[]", "HTTP methods, e.g. [POST]; empty means any."},
      {"routes[].lease", "none", "Session lease for requests on this route: required, optional or none."},
      {"routes[].sse_done", "", "How the final event of an event stream is recognised: exactly one of event, data, or json with equals."},
      {"routes[].sse_done.event", "", "The event name that ends the stream, e.g. done."},
      {"routes[].sse_done.data", "", "The whole data of the event that ends the stream, e.g. \"[DONE]\"."},
      {"routes[].sse_done.json", "", "JSON pointer into the data of each event, e.g. /type; needs equals."},
      {"routes[].sse_done.equals", "", "The value at json (compared as text) that ends the stream, e.g. done."},
      {"routes[].headers", "", "Headers baton adds; each can be switched off."},
      {"routes[].headers.cache_bypass", "true", "Cache-Control: no-cache and Pragma: no-cache to the engine."},
      {"routes[].headers.fence", "true", "Baton-Fence to the engine."},
      {"routes[].headers.migrated", "true", "Baton-Session-Migrated: ?1 to the engine when the previous lease holder was another instance."},
      {"routes[].headers.identity_encoding", "true", "Accept-Encoding: identity to the engine when sse_done is set, since compression hides the event."},
      {"routes[].headers.no_store", "true", "Cache-Control: no-store to the client."},
      {"routes[].headers.no_buffering", "true", "X-Accel-Buffering: no to the client on event streams."},
  };
  return reference;
}

const std::vector<KeyReference>& lockd_config_reference() {
  static const std::vector<KeyReference> reference{
      {"instance_id", "", "Names this daemon in its logs; empty or absent means host name and process id. Leases are held in the names callers give (instance=), not in this one."},
      {"listen", "127.0.0.1:9910", "Address of the HTTP API, host:port. Loopback by default: the API has no authentication."},
      {"threads", "0", "I/O threads, 0 to 1024; 0 means one per CPU core."},
      {"drain_timeout", "30s", "On SIGTERM or SIGINT, how long requests in flight (waiting acquires too) may still run; 0s closes them at once."},
      {"lease", "", "The lease backend and the defaults of requests; baton-proxy's lease keys less max_hold and on_backend_down."},
      {"lease.backend", "redis", "Where leases live: redis (shared with every baton-proxy and baton-lockd on the same Redis and key prefix) or memory (this process only)."},
      {"lease.ttl", "30s", "TTL of a lease whose request names none; at least 100ms, at most limits.max_ttl."},
      {"lease.wait_timeout", "10s", "How long an acquire whose request names no wait waits for a busy key; 0s means do not wait; at most limits.max_wait."},
      {"lease.max_waiters", "64", "Acquires that may wait per key, at least 1; beyond that they get 429."},
      {"redis", "", "The Redis lease backend."},
      {"redis.url", "redis://127.0.0.1:6379/0", "redis:// or rediss:// (TLS), optional user:password@ (percent-encoded), port 6379 by default, /database 0 by default."},
      {"redis.key_prefix", "baton", "Prefix of every Redis key; the same as baton-proxy's for leases that exclude the proxy's; not empty, no braces, spaces or control characters."},
      {"redis.connect_timeout", "1s", "Connecting to Redis."},
      {"redis.command_timeout", "1s", "One Redis command round trip."},
      {"logging", "", "Logs."},
      {"logging.level", "info", "trace, debug, info, warn, error, critical or off."},
      {"logging.format", "text", "text or json."},
      {"logging.access_log", "true", "One log line per request: true or false."},
      {"limits", "", "Bounds on what callers may ask for; a request beyond them gets 400."},
      {"limits.max_ttl", "10m", "Largest ttl of an acquire or renew; at least 100ms."},
      {"limits.max_wait", "1m", "Largest wait of an acquire, which keeps its HTTP request open that long; 0s allows no waiting."},
  };
  return reference;
}

Duration parse_duration(std::string_view text) {
  constexpr auto expected = "expected whole numbers with units ms, s, m or h, as in 250ms, 30s, 5m, 1h or 1m30s"sv;
  constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());
  if (text.empty()) throw invalid("duration", text, expected);
  std::uint64_t total = 0;
  std::uint64_t previous_scale = std::numeric_limits<std::uint64_t>::max();
  for (std::string_view rest = text; !rest.empty();) {
    const auto amount = take_number(rest);
    const auto unit = take_letters(rest);
    if (amount && unit.empty() && rest.empty())
      throw invalid("duration", text, "a unit is required (ms, s, m or h), as in 30s");
    const auto scale = scale_of(duration_units, unit);
    if (!amount || !scale) throw invalid("duration", text, expected);
    if (*scale >= previous_scale)
      throw invalid("duration", text, "units must go from largest to smallest, each once, as in 1h30m");
    if (!add_scaled(total, *amount, *scale, limit)) throw invalid("duration", text, "too long");
    previous_scale = *scale;
  }
  return Duration(static_cast<Duration::rep>(total));
}

std::string format_duration(Duration duration) {
  if (duration < Duration::zero()) return "-" + format_duration(-duration);
  std::uint64_t rest = static_cast<std::uint64_t>(duration.count());
  if (rest == 0) return "0s";
  std::string text;
  for (const Unit& unit : duration_units) {
    if (rest >= unit.scale) text += std::to_string(rest / unit.scale) + std::string(unit.name);
    rest %= unit.scale;
  }
  return text;
}

std::size_t parse_size(std::string_view text) {
  std::string_view rest = text;
  const auto amount = take_number(rest);
  const auto scale = scale_of(size_units, rest);
  if (!amount || !scale)
    throw invalid("size", text,
                  "expected a number of bytes with an optional unit k, m or g (powers of 1024), as in 512, 16k, "
                  "16KiB or 1MiB");
  std::uint64_t bytes = 0;
  if (!add_scaled(bytes, *amount, *scale, std::numeric_limits<std::size_t>::max()))
    throw invalid("size", text, "too large");
  return static_cast<std::size_t>(bytes);
}

HostPort parse_host_port(std::string_view text) {
  Authority authority = parse_authority(text, "address", text);
  if (!authority.port) throw invalid("address", text, "expected host:port, as in 0.0.0.0:8080, [::1]:9901 or :8080");
  // No host means every IPv4 interface, like the default listen address.
  return {authority.host.empty() ? "0.0.0.0" : std::move(authority.host), *authority.port};
}

HttpUrl parse_http_url(std::string_view text) {
  constexpr auto what = "URL"sv;
  const std::string shown = without_credentials(text);
  if (text.starts_with("https://")) throw invalid(what, shown, "https is not supported: baton talks plain HTTP to the engine");
  if (!text.starts_with("http://")) throw invalid(what, shown, "expected http://host:port");
  const auto rest = text.substr("http://"sv.size());
  const auto authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const auto tail = rest.substr(authority_end);
  if (!tail.empty() && tail != "/")
    throw invalid(what, shown, "a path, query or fragment is not supported: each request keeps its own path");
  HostPort address = parse_url_address(rest.substr(0, authority_end), 80, what, shown);
  return {std::move(address.host), address.port};
}

RedisUrl parse_redis_url(std::string_view text) {
  constexpr auto what = "Redis URL"sv;
  const std::string shown = without_credentials(text);
  RedisUrl url;
  std::string_view rest;
  if (text.starts_with("rediss://")) {
    url.tls = true;
    rest = text.substr("rediss://"sv.size());
  } else if (text.starts_with("redis://")) {
    rest = text.substr("redis://"sv.size());
  } else {
    throw invalid(what, shown, "expected redis://host[:port][/database], or rediss:// for TLS");
  }
  const auto path_start = std::min(rest.find('/'), rest.size());
  std::string_view authority = rest.substr(0, path_start);
  if (const auto at = authority.rfind('@'); at != npos) {
    const auto credentials = authority.substr(0, at);
    const auto colon = credentials.find(':');
    url.username = percent_decode(credentials.substr(0, colon), what, shown);
    if (colon != npos) url.password = percent_decode(credentials.substr(colon + 1), what, shown);
    authority.remove_prefix(at + 1);
  }
  HostPort address = parse_url_address(authority, 6379, what, shown);
  url.host = std::move(address.host);
  url.port = address.port;
  url.database = parse_redis_database(rest.substr(path_start), shown);
  return url;
}

std::string expand_environment(std::string_view text) {
  std::string expanded;
  std::size_t position = 0;
  while (position < text.size()) {
    const auto dollar = text.find('$', position);
    expanded.append(text.substr(position, dollar - position));
    if (dollar == npos) break;
    const auto after = text.substr(dollar + 1);
    if (after.starts_with('$')) {
      expanded += '$';
      position = dollar + 2;
    } else if (after.starts_with('{')) {
      const auto close = text.find('}', dollar);
      if (close == npos) throw std::invalid_argument("unterminated ${ in '" + std::string(text) + "'");
      expanded += resolve_reference(text.substr(dollar + 2, close - dollar - 2));
      position = close + 1;
    } else {  // a lone '$' is literal, as at the end of a regex
      expanded += '$';
      position = dollar + 1;
    }
  }
  return expanded;
}

namespace {

// ---- The key reference as a tree ----------------------------------------------------------

std::string join_key(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string(name) : std::string(parent) + "." + std::string(name);
}

// The name one level below `parent` that `key` is, if it is one: "url" for "upstream.url"
// below "upstream".
std::optional<std::string_view> child_name(std::string_view key, std::string_view parent) {
  if (!parent.empty()) {
    if (!key.starts_with(parent) || key.substr(parent.size(), 1) != ".") return std::nullopt;
    key.remove_prefix(parent.size() + 1);
  }
  if (key.find_first_of(".[") != npos) return std::nullopt;
  return key;
}

using KeyTable = std::vector<KeyReference>;

std::vector<std::string_view> documented_children(const KeyTable& reference, std::string_view parent) {
  std::vector<std::string_view> names;
  for (const KeyReference& entry : reference)
    if (const auto name = child_name(entry.key, parent)) names.push_back(*name);
  return names;
}

bool is_documented(const KeyTable& reference, std::string_view key) {
  return std::any_of(reference.begin(), reference.end(), [key](const KeyReference& entry) { return entry.key == key; });
}

std::size_t edit_distance(std::string_view from, std::string_view to) {
  std::vector<std::size_t> row(to.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= from.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= to.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (from[i - 1] == to[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[to.size()];
}

std::string join_names(std::span<const std::string_view> names) {
  std::string joined;
  for (const auto name : names) joined += (joined.empty() ? "" : ", ") + std::string(name);
  return joined;
}

std::string unknown_key_message(std::string_view name, const std::vector<std::string_view>& known) {
  constexpr std::size_t max_typo_distance = 2;
  std::optional<std::string_view> closest;
  std::size_t closest_distance = max_typo_distance + 1;
  for (const auto candidate : known) {
    if (const auto distance = edit_distance(name, candidate); distance < closest_distance) {
      closest = candidate;
      closest_distance = distance;
    }
  }
  if (closest) return "unknown key, did you mean '" + std::string(*closest) + "'?";
  return "unknown key; expected one of " + join_names(known);
}

// ---- Reading the YAML tree ----------------------------------------------------------------

ConfigError error_at(const std::string& file, const YAML::Mark& mark, std::string key, std::string message) {
  // yaml-cpp counts from 0; editors and compilers count from 1.
  const int line = mark.is_null() ? 0 : mark.line + 1;
  const int column = mark.is_null() ? 0 : mark.column + 1;
  return ConfigError(file, line, column, std::move(key), std::move(message));
}

// A node of the file with where it is and its dotted key, both as written
// ("routes[1].match") and as in the key table ("routes[].match"). The key table is the
// program's: config_reference() or lockd_config_reference().
class Field {
public:
  static Field root(YAML::Node document, const std::string& file, const KeyTable& reference) {
    const YAML::Mark start = document.IsNull() ? YAML::Mark() : document.Mark();
    return Field(std::move(document), start, "", "", file, reference);
  }

  const YAML::Node& yaml() const { return node_; }
  const std::string& key() const { return key_; }
  const std::string& reference_key() const { return reference_key_; }
  const KeyTable& reference() const { return *reference_; }

  [[noreturn]] void fail(std::string message) const { throw error_at(*file_, mark_, key_, std::move(message)); }

  // The same key, located elsewhere (at a map key rather than its value).
  Field at(const YAML::Mark& mark) const {
    Field relocated = *this;
    relocated.mark_ = mark;
    return relocated;
  }

  Field member(std::string_view name, const YAML::Node& key, const YAML::Node& value) const {
    // An empty value ("name:") has no useful position of its own: it points at the next line.
    const YAML::Mark mark = value.IsNull() ? key.Mark() : value.Mark();
    return Field(value, mark, join_key(key_, name), join_key(reference_key_, name), *file_, *reference_);
  }

  // The member `name` of this map or, when it is absent, a stand-in located at this map,
  // for errors about a key that was left out.
  Field member_or_self(std::string_view name) const {
    if (node_.IsMap())
      for (const auto& pair : node_)
        if (pair.first.IsScalar() && pair.first.Scalar() == name) return member(name, pair.first, pair.second);
    return Field(YAML::Node(), mark_, join_key(key_, name), join_key(reference_key_, name), *file_, *reference_);
  }

  // The items of a list; nothing ("key:") is an empty list.
  std::vector<Field> items() const {
    if (node_.IsNull()) return {};
    if (!node_.IsSequence()) fail("expected a list, got " + kind());
    std::vector<Field> items;
    for (const auto& item : node_) {
      const YAML::Mark mark = item.IsNull() ? mark_ : item.Mark();
      items.push_back(
          Field(item, mark, key_ + "[" + std::to_string(items.size()) + "]", reference_key_ + "[]", *file_, *reference_));
    }
    return items;
  }

  // The scalar with ${VAR} references expanded.
  std::string text() const {
    if (!node_.IsScalar()) fail("expected a single value, got " + kind());
    try {
      return expand_environment(node_.Scalar());
    } catch (const std::invalid_argument& e) {
      fail(e.what());
    }
  }

  // text() through one of the public value parsers, whose errors become this key's.
  template <class Parse>
  auto parse(Parse parse_text) const {
    const std::string value = text();
    try {
      return parse_text(std::string_view(value));
    } catch (const std::invalid_argument& e) {
      fail(e.what());
    }
  }

  std::string kind() const {
    if (node_.IsMap()) return "a map";
    if (node_.IsSequence()) return "a list";
    if (node_.IsScalar()) return "'" + node_.Scalar() + "'";
    return "nothing";
  }

private:
  Field(YAML::Node node, YAML::Mark mark, std::string key, std::string reference_key, const std::string& file,
        const KeyTable& reference)
      : node_(std::move(node)),
        mark_(mark),
        key_(std::move(key)),
        reference_key_(std::move(reference_key)),
        file_(&file),
        reference_(&reference) {}

  YAML::Node node_;
  YAML::Mark mark_;
  std::string key_;
  std::string reference_key_;
  const std::string* file_;
  const KeyTable* reference_;
};

template <class T>
struct Named {
  std::string_view name;
  T value;
};

template <class T, std::size_t N>
std::vector<std::string_view> names_of(const std::array<Named<T>, N>& table) {
  std::vector<std::string_view> names;
  for (const auto& entry : table) names.push_back(entry.name);
  return names;
}

// A YAML map being read into a struct. Its keys are checked against the key table up
// front, so that a misspelt key is reported before any value below it.
class Section {
public:
  explicit Section(Field map) : self_(std::move(map)) {
    if (self_.yaml().IsNull()) return;  // "client:" with everything below commented out
    if (!self_.yaml().IsMap()) self_.fail("expected a map, got " + self_.kind());
    for (const auto& pair : self_.yaml()) add_entry(pair.first, pair.second);
  }

  std::optional<Field> take(std::string_view name) {
    if (!is_documented(self_.reference(), join_key(self_.reference_key(), name)))
      self_.fail("internal error: the loader reads '" + std::string(name) + "', which the key table lacks");
    const auto entry = std::find_if(entries_.begin(), entries_.end(), [name](const Entry& e) { return e.name == name; });
    if (entry == entries_.end()) return std::nullopt;
    entry->read = true;
    return entry->value;
  }

  template <class T, class Convert>
  void read(std::string_view name, T& out, Convert convert) {
    if (const auto field = take(name)) out = convert(*field);
  }

  template <class T, class Convert>
  void require(std::string_view name, T& out, Convert convert) {
    const auto field = take(name);
    if (!field) self_.member_or_self(name).fail("is required");
    out = convert(*field);
  }

  // For keys that are alternatives, such as match.prefix and match.regex.
  template <class T, std::size_t N>
  std::pair<T, Field> take_one_of(const std::array<Named<T>, N>& forms) {
    std::vector<std::pair<T, Field>> present;
    std::vector<std::string_view> present_names;
    for (const auto& form : forms) {
      if (const auto field = take(form.name)) {
        present.emplace_back(form.value, *field);
        present_names.push_back(form.name);
      }
    }
    if (present.size() != 1) {
      const std::string got = present.empty() ? "" : "; got " + join_names(present_names);
      self_.fail("set exactly one of " + join_names(names_of(forms)) + got);
    }
    return present.front();
  }

  const Field& self() const { return self_; }

  // Every documented key present must have been read: a key that the reference lists but
  // the loader ignores would be accepted and silently do nothing.
  void reject_unread_keys() const {
    for (const Entry& entry : entries_)
      if (!entry.read) entry.value.fail("internal error: this documented key is not read by the loader");
  }

private:
  struct Entry {
    std::string name;
    Field value;
    bool read = false;
  };

  void add_entry(const YAML::Node& key, const YAML::Node& value) {
    if (!key.IsScalar()) self_.at(key.Mark()).fail("expected a key name, got a " + std::string(key.IsMap() ? "map" : "list"));
    const std::string name = key.Scalar();
    const Field field = self_.member(name, key, value);
    const Field at_key = field.at(key.Mark());
    if (std::any_of(entries_.begin(), entries_.end(), [&name](const Entry& e) { return e.name == name; }))
      at_key.fail("duplicate key");
    // A name is one level: "upstream.url" written as one key is no documented key, even
    // though joined to its parent it spells one.
    if (name.find_first_of(".[") != std::string::npos || !is_documented(self_.reference(), field.reference_key()))
      at_key.fail(unknown_key_message(name, documented_children(self_.reference(), self_.reference_key())));
    entries_.push_back({name, field});
  }

  Field self_;
  std::vector<Entry> entries_;
};

// ---- Converters: Field -> typed value, failing at the field ----------------------------

std::string any_text(const Field& field) { return field.text(); }

template <class Convert>
auto non_empty(Convert convert) {
  return [convert](const Field& field) {
    auto value = convert(field);
    if (value.empty()) field.fail("must not be empty");
    return value;
  };
}

template <class T, std::size_t N>
auto one_of(const std::array<Named<T>, N>& table) {
  return [&table](const Field& field) {
    const std::string text = field.text();
    for (const auto& entry : table)
      if (entry.name == text) return entry.value;
    field.fail("expected one of " + join_names(names_of(table)) + ", got '" + text + "'");
  };
}

template <class Int>
auto integer_in(Int minimum, Int maximum) {
  return [minimum, maximum](const Field& field) {
    const std::string text = field.text();
    const auto number = parse_whole_number(text);
    if (!number || *number < static_cast<std::uint64_t>(minimum) || *number > static_cast<std::uint64_t>(maximum)) {
      const std::string range = maximum == std::numeric_limits<Int>::max()
                                    ? "of at least " + std::to_string(minimum)
                                    : "from " + std::to_string(minimum) + " to " + std::to_string(maximum);
      field.fail("expected a whole number " + range + ", got '" + text + "'");
    }
    return static_cast<Int>(*number);
  };
}

template <class Int>
auto integer_at_least(Int minimum) {
  return integer_in(minimum, std::numeric_limits<Int>::max());
}

template <class Convert>
auto list_of(Convert convert) {
  return [convert](const Field& field) {
    std::vector<std::invoke_result_t<Convert, const Field&>> values;
    for (const Field& item : field.items()) values.push_back(convert(item));
    return values;
  };
}

// A map read by `fill` into a T that starts out with its defaults.
template <class T>
auto map_of(void (*fill)(Section&, T&)) {
  return [fill](const Field& field) {
    T value;
    Section section(field);
    fill(section, value);
    section.reject_unread_keys();
    return value;
  };
}

constexpr std::array<Named<bool>, 2> booleans{{{"true", true}, {"false", false}}};

Duration any_duration(const Field& field) { return field.parse(parse_duration); }

Duration positive_duration(const Field& field) {
  const Duration duration = any_duration(field);
  if (duration <= Duration::zero()) field.fail("must be greater than zero");
  return duration;
}

auto duration_at_least(Duration minimum) {
  return [minimum](const Field& field) {
    const Duration duration = any_duration(field);
    if (duration < minimum)
      field.fail("must be at least " + format_duration(minimum) + ", got " + format_duration(duration));
    return duration;
  };
}

std::size_t positive_size(const Field& field) {
  const std::size_t size = field.parse(parse_size);
  if (size == 0) field.fail("must be greater than zero");
  return size;
}

HostPort host_port(const Field& field) { return field.parse(parse_host_port); }
HttpUrl http_url(const Field& field) { return field.parse(parse_http_url); }
RedisUrl redis_url(const Field& field) { return field.parse(parse_redis_url); }

// In the mode the proxy compiles it in (compile_request_regex: libstdc++'s polynomial
// mode, which has no back-references), so that a file that loads also starts.
std::regex compile_regex(const Field& field, const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex_constants::__polynomial);
  } catch (const std::regex_error& e) {
    field.fail("invalid regex '" + pattern + "': " + e.what());
  }
}

std::string regex_text(const Field& field) {
  std::string pattern = field.text();
  compile_regex(field, pattern);
  return pattern;
}

std::string capturing_regex_text(const Field& field) {
  std::string pattern = field.text();
  if (compile_regex(field, pattern).mark_count() == 0)
    field.fail("the regex needs a capture group for the session id, as in '^/sessions/([^/]+)'");
  return pattern;
}

bool is_json_pointer(std::string_view pointer) {
  if (!pointer.empty() && !pointer.starts_with('/')) return false;
  for (auto tilde = pointer.find('~'); tilde != npos; tilde = pointer.find('~', tilde + 1)) {
    const auto escaped = pointer.substr(tilde + 1, 1);
    if (escaped != "0" && escaped != "1") return false;
  }
  return true;
}

std::string json_pointer(const Field& field) {
  std::string pointer = field.text();
  if (!is_json_pointer(pointer))
    field.fail("invalid JSON pointer '" + pointer + "': expected \"\" or a path such as /sessionId (~0 for ~, ~1 for /)");
  return pointer;
}

bool is_http_token(std::string_view text) {
  constexpr auto token_symbols = "!#$%&'*+-.^_`|~"sv;
  return !text.empty() && std::all_of(text.begin(), text.end(), [token_symbols](char c) {
    return is_digit_or_letter(c) || token_symbols.find(c) != npos;
  });
}

// Header, cookie and method names.
std::string http_token(const Field& field) {
  std::string token = field.text();
  if (!is_http_token(token))
    field.fail("expected an HTTP token (letters, digits and !#$%&'*+-.^_`|~), got '" + token + "'");
  return token;
}

std::string http_method(const Field& field) {
  std::string method = http_token(field);
  std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return method;
}

std::string path_prefix(const Field& field) {
  std::string prefix = field.text();
  if (!prefix.starts_with('/')) field.fail("must start with '/', got '" + prefix + "'");
  return prefix;
}

std::string redis_key_prefix(const Field& field) {
  std::string prefix = non_empty(any_text)(field);
  // Braces would turn part of every key into a Redis Cluster hash tag, putting all
  // sessions into one slot.
  const bool unsafe = std::any_of(prefix.begin(), prefix.end(), [](unsigned char c) {
    return c == '{' || c == '}' || std::isspace(c) != 0 || std::iscntrl(c) != 0;
  });
  if (unsafe) field.fail("must not contain braces, spaces or control characters");
  return prefix;
}

// ---- The sections -------------------------------------------------------------------------

constexpr std::array<Named<LeaseBackend>, 2> lease_backends{{{"redis", LeaseBackend::redis}, {"memory", LeaseBackend::memory}}};
constexpr std::array<Named<BackendDownPolicy>, 2> backend_down_policies{
    {{"fail_closed", BackendDownPolicy::fail_closed}, {"fail_open", BackendDownPolicy::fail_open}}};
constexpr std::array<Named<SessionSourceKind>, 5> session_source_kinds{{{"header", SessionSourceKind::header},
                                                                        {"cookie", SessionSourceKind::cookie},
                                                                        {"query", SessionSourceKind::query},
                                                                        {"json", SessionSourceKind::json},
                                                                        {"path", SessionSourceKind::path}}};
constexpr std::array<Named<LogLevel>, 7> log_levels{{{"trace", LogLevel::trace},
                                                     {"debug", LogLevel::debug},
                                                     {"info", LogLevel::info},
                                                     {"warn", LogLevel::warn},
                                                     {"error", LogLevel::error},
                                                     {"critical", LogLevel::critical},
                                                     {"off", LogLevel::off}}};
constexpr std::array<Named<LogFormat>, 2> log_formats{{{"text", LogFormat::text}, {"json", LogFormat::json}}};
constexpr std::array<Named<SessionIdLogging>, 2> session_id_loggings{
    {{"plain", SessionIdLogging::plain}, {"hash", SessionIdLogging::hash}}};
constexpr std::array<Named<LeaseMode>, 3> lease_modes{
    {{"required", LeaseMode::required}, {"optional", LeaseMode::optional}, {"none", LeaseMode::none}}};
constexpr std::array<Named<SseDone::Kind>, 3> sse_done_forms{
    {{"event", SseDone::Kind::event}, {"data", SseDone::Kind::data}, {"json", SseDone::Kind::json}}};
enum class MatchForm { prefix, regex };
constexpr std::array<Named<MatchForm>, 2> match_forms{{{"prefix", MatchForm::prefix}, {"regex", MatchForm::regex}}};

void read_client(Section& section, ClientConfig& client) {
  section.read("header_timeout", client.header_timeout, positive_duration);
  section.read("idle_timeout", client.idle_timeout, positive_duration);
  section.read("send_timeout", client.send_timeout, positive_duration);
  section.read("max_header_size", client.max_header_size, positive_size);
  section.read("max_body_size", client.max_body_size, positive_size);
}

void read_upstream(Section& section, UpstreamConfig& upstream) {
  section.read("url", upstream.url, http_url);
  section.read("connect_timeout", upstream.connect_timeout, positive_duration);
  section.read("read_timeout", upstream.read_timeout, positive_duration);
  section.read("pool_size", upstream.pool_size, integer_at_least<std::size_t>(1));
  section.read("pool_idle_timeout", upstream.pool_idle_timeout, positive_duration);
}

void read_admin_token(Section& section, AdminToken& token) {
  section.require("name", token.name, non_empty(any_text));
  section.read("token", token.secret, any_text);
}

// A string, named after its place, or a {name, token} map.
AdminToken admin_token(const Field& field) {
  if (field.yaml().IsMap()) return map_of(read_admin_token)(field);
  return {field.key().substr(field.key().find("tokens[")), field.text()};
}

bool is_loopback(const std::string& host) {
  beast::error_code error;
  const auto address = net::ip::make_address(host, error);
  return error ? host == "localhost" : address.is_loopback();
}

void read_admin(Section& section, AdminConfig& admin) {
  std::string token;
  section.read("listen", admin.listen, host_port);
  section.read("token", token, any_text);
  section.read("tokens", admin.tokens, list_of(admin_token));
  admin.tokens.insert(admin.tokens.begin(), {"token", token});
  // "${BATON_ADMIN_TOKEN:-}" with the variable unset
  std::erase_if(admin.tokens, [](const AdminToken& entry) { return entry.secret.empty(); });
  if (admin.tokens.empty() && !is_loopback(admin.listen.host))
    section.self().member_or_self("listen").fail(
        "is not a loopback address, so the admin endpoint needs a bearer token: set admin.token (e.g. "
        "${BATON_ADMIN_TOKEN}) or listen on 127.0.0.1");
}

// The lease keys of both programs.
void read_lease_basics(Section& section, LeaseConfig& lease) {
  section.read("backend", lease.backend, one_of(lease_backends));
  section.read("ttl", lease.ttl, duration_at_least(100ms));
  section.read("wait_timeout", lease.wait_timeout, any_duration);
  section.read("max_waiters", lease.max_waiters, integer_at_least<std::size_t>(1));
}

void read_lease(Section& section, LeaseConfig& lease) {
  read_lease_basics(section, lease);
  section.read("max_hold", lease.max_hold, any_duration);
  section.read("on_backend_down", lease.on_backend_down, one_of(backend_down_policies));
  if (lease.max_hold < lease.ttl)
    section.self().member_or_self("max_hold").fail("must be at least lease.ttl (" + format_duration(lease.ttl) +
                                                   "), got " + format_duration(lease.max_hold));
}

void read_redis(Section& section, RedisConfig& redis) {
  section.read("url", redis.url, redis_url);
  section.read("key_prefix", redis.key_prefix, redis_key_prefix);
  section.read("connect_timeout", redis.connect_timeout, positive_duration);
  section.read("command_timeout", redis.command_timeout, positive_duration);
}

std::string session_source_value(SessionSourceKind kind, const Field& field) {
  switch (kind) {
    case SessionSourceKind::header:
    case SessionSourceKind::cookie:
      return http_token(field);
    case SessionSourceKind::query:
      return non_empty(any_text)(field);
    case SessionSourceKind::json:
      return json_pointer(field);
    case SessionSourceKind::path:
      return capturing_regex_text(field);
  }
  field.fail("internal error: unhandled session source");
}

void read_session_source(Section& section, SessionSource& source) {
  const auto [kind, field] = section.take_one_of(session_source_kinds);
  source = {kind, session_source_value(kind, field)};
}

void read_session(Section& section, SessionConfig& session) {
  section.read("sources", session.sources, non_empty(list_of(map_of(read_session_source))));
  section.read("pattern", session.pattern, regex_text);
  section.read("max_json_body", session.max_json_body, positive_size);
}

void read_logging(Section& section, LoggingConfig& logging) {
  section.read("level", logging.level, one_of(log_levels));
  section.read("format", logging.format, one_of(log_formats));
  section.read("access_log", logging.access_log, one_of(booleans));
}

void read_proxy_logging(Section& section, LoggingConfig& logging) {
  read_logging(section, logging);
  section.read("session_ids", logging.session_ids, one_of(session_id_loggings));
  section.read("session_hash_key", logging.session_hash_key, any_text);
  if (logging.session_ids == SessionIdLogging::hash && logging.session_hash_key.empty())
    section.self().member_or_self("session_hash_key").fail("is required (and not empty) with session_ids: hash");
}

void read_route_match(Section& section, RouteMatch& match) {
  const auto [form, pattern] = section.take_one_of(match_forms);
  if (form == MatchForm::prefix)
    match.prefix = path_prefix(pattern);
  else
    match.regex = non_empty(regex_text)(pattern);  // an empty regex would read as "no regex": a prefix of ""
  section.read("methods", match.methods, list_of(http_method));
}

void read_sse_done(Section& section, SseDone& done) {
  const auto [kind, field] = section.take_one_of(sse_done_forms);
  done.kind = kind;
  if (kind == SseDone::Kind::json) {
    done.json_pointer = json_pointer(field);
    section.require("equals", done.value, any_text);
  } else {
    done.value = non_empty(any_text)(field);
    if (const auto equals = section.take("equals")) equals->fail("only goes with json");
  }
}

void read_route_headers(Section& section, RouteHeaders& headers) {
  section.read("cache_bypass", headers.cache_bypass, one_of(booleans));
  section.read("fence", headers.fence, one_of(booleans));
  section.read("migrated", headers.migrated, one_of(booleans));
  section.read("identity_encoding", headers.identity_encoding, one_of(booleans));
  section.read("no_store", headers.no_store, one_of(booleans));
  section.read("no_buffering", headers.no_buffering, one_of(booleans));
}

void read_route(Section& section, RouteConfig& route) {
  section.require("match", route.match, map_of(read_route_match));
  section.read("name", route.name, non_empty(any_text));
  section.read("lease", route.lease, one_of(lease_modes));
  section.read("sse_done", route.sse_done, map_of(read_sse_done));
  section.read("headers", route.headers, map_of(read_route_headers));
  if (route.name.empty()) route.name = route.match.prefix.empty() ? route.match.regex : route.match.prefix;
}

std::vector<RouteConfig> read_routes(const Field& list) {
  std::vector<RouteConfig> routes;
  for (const Field& item : list.items()) {
    RouteConfig route = map_of(read_route)(item);
    const auto same_name =
        std::find_if(routes.begin(), routes.end(), [&route](const RouteConfig& r) { return r.name == route.name; });
    if (same_name != routes.end())
      item.member_or_self("name").fail("route name '" + route.name + "' is already used by " + list.key() + "[" +
                                       std::to_string(same_name - routes.begin()) + "]; names must be unique");
    routes.push_back(std::move(route));
  }
  return routes;
}

void read_config(Section& section, Config& config) {
  section.read("instance_id", config.instance_id, any_text);
  section.read("listen", config.listen, host_port);
  section.read("threads", config.threads, integer_in(0U, 1024U));
  section.read("drain_timeout", config.drain_timeout, any_duration);
  section.read("client", config.client, map_of(read_client));
  section.read("upstream", config.upstream, map_of(read_upstream));
  section.read("admin", config.admin, map_of(read_admin));
  section.read("lease", config.lease, map_of(read_lease));
  section.read("redis", config.redis, map_of(read_redis));
  section.read("session", config.session, map_of(read_session));
  section.read("logging", config.logging, map_of(read_proxy_logging));
  section.read("routes", config.routes, read_routes);
}

// baton-lockd has no max_hold (callers renew as long as they like) and cannot fail open
// (it cannot hand out a lease it could not record), so its lease section lacks both keys.
void read_lockd_lease(Section& section, LeaseConfig& lease) { read_lease_basics(section, lease); }

void read_lockd_limits(Section& section, LockdLimits& limits) {
  section.read("max_ttl", limits.max_ttl, duration_at_least(100ms));
  section.read("max_wait", limits.max_wait, any_duration);
}

// A default of the lease section must be a request the limits allow. The error points at
// the lease key when the file sets it, else at the limit that excludes its default.
void check_within_limit(const Field& root, std::string_view lease_key, Duration value, std::string_view limit_key,
                        Duration limit) {
  if (value <= limit) return;
  const Field set_value = root.member_or_self("lease").member_or_self(lease_key);
  const Field at = set_value.yaml().IsNull() ? root.member_or_self("limits").member_or_self(limit_key) : set_value;
  at.fail("lease." + std::string(lease_key) + " (" + format_duration(value) + ") must be at most limits." +
          std::string(limit_key) + " (" + format_duration(limit) + ")");
}

void read_lockd_config(Section& section, LockdConfig& config) {
  section.read("instance_id", config.instance_id, any_text);
  section.read("listen", config.listen, host_port);
  section.read("threads", config.threads, integer_in(0U, 1024U));
  section.read("drain_timeout", config.drain_timeout, any_duration);
  section.read("lease", config.lease, map_of(read_lockd_lease));
  section.read("redis", config.redis, map_of(read_redis));
  section.read("logging", config.logging, map_of(read_logging));
  section.read("limits", config.limits, map_of(read_lockd_limits));
  check_within_limit(section.self(), "ttl", config.lease.ttl, "max_ttl", config.limits.max_ttl);
  check_within_limit(section.self(), "wait_timeout", config.lease.wait_timeout, "max_wait", config.limits.max_wait);
}

std::string default_instance_id() {
  std::array<char, 256> host{};
  const bool named = ::gethostname(host.data(), host.size() - 1) == 0 && host[0] != '\0';
  return (named ? std::string(host.data()) : std::string("localhost")) + "-" + std::to_string(::getpid());
}

RouteConfig default_route() {
  RouteConfig route;
  route.name = "/";
  route.match.prefix = "/";
  return route;
}

unsigned default_threads() { return std::max(1U, std::thread::hardware_concurrency()); }

// Defaults that depend on the machine, or that the structs cannot hold as initialisers.
void fill_computed_defaults(Config& config) {
  if (config.instance_id.empty()) config.instance_id = default_instance_id();
  if (config.threads == 0) config.threads = default_threads();
  if (config.session.sources.empty()) config.session.sources = {{SessionSourceKind::header, "X-Session-Id"}};
  if (config.routes.empty()) config.routes = {default_route()};
}

void fill_computed_defaults(LockdConfig& config) {
  if (config.instance_id.empty()) config.instance_id = default_instance_id();
  if (config.threads == 0) config.threads = default_threads();
}

// In a flow collection ("{ ... }"), '{' cannot start a plain scalar, so an unquoted
// ${VAR} there is a YAML syntax error; yaml-cpp's own message does not say why.
std::string explain_syntax_error(std::string_view yaml, const YAML::Mark& mark, const std::string& message) {
  const auto position = static_cast<std::size_t>(std::max(mark.pos, 1));
  if (mark.is_null() || position >= yaml.size() || yaml.substr(position - 1, 2) != "${") return message;
  return message + " (quote a ${...} value inside { } or [ ], as in \"${VAR}\")";
}

// Notes where the root node of the first two documents of a stream starts; builds no nodes.
class DocumentRoots : public YAML::EventHandler {
public:
  std::array<std::optional<YAML::Mark>, 2> roots;

  void OnDocumentStart(const YAML::Mark&) override { ++documents_; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    note(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnMapEnd() override {}

private:
  void note(const YAML::Mark& mark) {
    if (documents_ >= 1 && documents_ <= 2 && !roots[documents_ - 1]) roots[documents_ - 1] = mark;
  }

  std::size_t documents_ = 0;
};

// Not YAML::LoadAll: on some malformed streams (one that starts with ',') yaml-cpp 0.7
// reports an empty document at the same place again and again, and LoadAll collects them
// until memory runs out (jbeder/yaml-cpp#1040, fixed after 0.8). Here at most two
// documents are read to find out whether there is a second; then the first is loaded.
YAML::Node parse_document(std::string_view yaml, const std::string& file) {
  const std::string text(yaml);
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentRoots found;
  if (parser.HandleNextDocument(found) && parser.HandleNextDocument(found)) {
    const YAML::Mark second = found.roots[1].value_or(YAML::Mark::null_mark());
    if (found.roots[0] && found.roots[0]->pos == second.pos)
      throw error_at(file, second, "", "not valid YAML here");
    throw error_at(file, second, "", "expected one YAML document, found a second");
  }
  return YAML::Load(text);
}

struct CloseFile {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

ConfigError unreadable(const std::string& path, int error) {
  return ConfigError(path, 0, 0, "", "cannot read: " + std::string(std::strerror(error)));
}

std::string read_whole_file(const std::string& path) {
  const std::unique_ptr<std::FILE, CloseFile> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw unreadable(path, errno);
  std::string content;
  std::array<char, 16 * 1024> buffer{};
  while (const std::size_t count = std::fread(buffer.data(), 1, buffer.size(), file.get())) content.append(buffer.data(), count);
  // Reading a directory fails here (EISDIR), not at fopen.
  if (std::ferror(file.get())) throw unreadable(path, errno);
  return content;
}

template <class T>
T load_string(std::string_view yaml, const std::string& file, const KeyTable& reference, void (*fill)(Section&, T&)) {
  try {
    T config = map_of(fill)(Field::root(parse_document(yaml, file), file, reference));
    config.file = file;
    fill_computed_defaults(config);
    return config;
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {  // syntax errors
    throw error_at(file, e.mark, "", explain_syntax_error(yaml, e.mark, e.msg));
  } catch (const std::exception& e) {  // the promise is ConfigError only, even for a bug
    throw ConfigError(file, 0, 0, "", std::string("internal error: ") + e.what());
  }
}

}  // namespace

Config load_config_string(std::string_view yaml, const std::string& file) {
  return load_string(yaml, file, config_reference(), read_config);
}

Config load_config_file(const std::string& path) { return load_config_string(read_whole_file(path), path); }

LockdConfig load_lockd_config_string(std::string_view yaml, const std::string& file) {
  return load_string(yaml, file, lockd_config_reference(), read_lockd_config);
}

LockdConfig load_lockd_config_file(const std::string& path) {
  return load_lockd_config_string(read_whole_file(path), path);
}

}  // namespace baton::core
