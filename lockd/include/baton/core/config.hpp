// Typed configuration of baton, loaded from one YAML file per deployment.
//
// Every key is validated at start: unknown keys, wrong types, bad durations, sizes,
// URLs and ports are reported as ConfigError naming the file, the line and the key.
// Scalars expand ${VAR} and ${VAR:-default} from the environment before conversion.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace baton::core {

using Duration = std::chrono::milliseconds;

// A configuration problem, with where it is. what() reads "file:line:column: key: message".
class ConfigError : public std::runtime_error {
public:
  ConfigError(std::string file, int line, int column, std::string key, std::string message);

  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }  // 1-based; 0 when the whole file is meant
  int column() const noexcept { return column_; }
  const std::string& key() const noexcept { return key_; }  // dotted: "upstream.url"
  const std::string& message() const noexcept { return message_; }

private:
  std::string file_;
  int line_;
  int column_;
  std::string key_;
  std::string message_;
};

struct HostPort {
  std::string host;
  std::uint16_t port = 0;

  bool operator==(const HostPort&) const = default;
};

struct HttpUrl {  // http://host:port, the engine
  std::string host = "127.0.0.1";
  std::uint16_t port = 3000;

  bool operator==(const HttpUrl&) const = default;
};

struct RedisUrl {  // redis[s]://[user[:password]@]host[:port][/db]
  bool tls = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string username;
  std::string password;
  int database = 0;

  bool operator==(const RedisUrl&) const = default;
};

struct ClientConfig {
  Duration header_timeout{std::chrono::seconds(10)};  // whole request head; slow -> 408
  Duration idle_timeout{std::chrono::seconds(60)};    // keep-alive between requests
  Duration send_timeout{std::chrono::seconds(60)};    // a client that stops reading
  std::size_t max_header_size = 32 * 1024;            // request line + fields -> 431
  std::size_t max_body_size = 16 * 1024 * 1024;      // request body -> 413

  bool operator==(const ClientConfig&) const = default;
};

struct UpstreamConfig {
  HttpUrl url;
  Duration connect_timeout{std::chrono::seconds(2)};  // -> 502
  Duration read_timeout{std::chrono::seconds(60)};    // idle between reads, re-armed -> 504
  std::size_t pool_size = 64;                         // idle connections kept per thread
  // Below the engine's own keep-alive timeout (Node's default is 5 s), so that baton,
  // not the engine, closes an idle pooled connection.
  Duration pool_idle_timeout{std::chrono::seconds(4)};

  bool operator==(const UpstreamConfig&) const = default;
};

// A bearer token of the admin endpoint; its name says who acted in audit lines.
struct AdminToken {
  std::string name;
  std::string secret;

  bool operator==(const AdminToken&) const = default;
};

struct AdminConfig {
  HostPort listen{"127.0.0.1", 9901};
  // `token:` (named "token") and `tokens:` (strings named "tokens[i]", or {name, token}
  // maps); empty secrets are dropped. Required when `listen` is not a loopback address.
  std::vector<AdminToken> tokens;

  bool operator==(const AdminConfig&) const = default;
};

enum class LeaseBackend { redis, memory };
enum class BackendDownPolicy { fail_closed, fail_open };

struct LeaseConfig {
  LeaseBackend backend = LeaseBackend::redis;
  Duration ttl{std::chrono::seconds(30)};
  Duration wait_timeout{std::chrono::seconds(10)};
  Duration max_hold{std::chrono::minutes(10)};
  std::size_t max_waiters = 64;
  BackendDownPolicy on_backend_down = BackendDownPolicy::fail_closed;

  bool operator==(const LeaseConfig&) const = default;
};

struct RedisConfig {
  RedisUrl url;
  std::string key_prefix = "baton";
  Duration connect_timeout{std::chrono::seconds(1)};
  Duration command_timeout{std::chrono::seconds(1)};

  bool operator==(const RedisConfig&) const = default;
};

enum class SessionSourceKind { header, cookie, query, json, path };

struct SessionSource {
  SessionSourceKind kind = SessionSourceKind::header;
  // header / cookie / query: the name; json: a JSON pointer (RFC 6901);
  // path: an ECMAScript regex whose first capture group is the id.
  std::string value;
};

struct SessionConfig {
  std::vector<SessionSource> sources;  // default: [{header: X-Session-Id}]
  std::string pattern = "^[A-Za-z0-9._:-]{1,128}$";
  std::size_t max_json_body = 64 * 1024;  // how much body a json source may buffer -> 413
};

enum class LogFormat { text, json };
enum class LogLevel { trace, debug, info, warn, error, critical, off };

// How the access log names a session: the id as is, or a keyed hash of it (HMAC-SHA256,
// first 16 hex digits) that ties the lines of one session together without revealing it.
enum class SessionIdLogging { plain, hash };

struct LoggingConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;
  bool access_log = true;
  SessionIdLogging session_ids = SessionIdLogging::plain;  // baton-proxy only
  std::string session_hash_key;                            // required with session_ids: hash

  bool operator==(const LoggingConfig&) const = default;
};

enum class LeaseMode { required, optional, none };

struct SseDone {
  enum class Kind { none, event, data, json };
  Kind kind = Kind::none;
  std::string value;         // event: the event name; data: the whole data; json: the value to equal
  std::string json_pointer;  // json only
};

struct RouteMatch {
  std::string prefix;  // exactly one of prefix and regex
  std::string regex;   // ECMAScript, matched against the path (no query)
  std::vector<std::string> methods;  // upper case; empty = any
};

// Headers baton adds; each can be switched off per route.
struct RouteHeaders {
  bool cache_bypass = true;       // Cache-Control / Pragma: no-cache to the engine
  bool fence = true;              // Baton-Fence
  bool migrated = true;           // Baton-Session-Migrated
  bool identity_encoding = true;  // Accept-Encoding: identity when sse_done is set
  bool no_store = true;           // Cache-Control: no-store to the client
  bool no_buffering = true;       // X-Accel-Buffering: no on event streams
};

struct RouteConfig {
  std::string name;  // metrics label; default: the prefix or regex
  RouteMatch match;
  LeaseMode lease = LeaseMode::none;
  SseDone sse_done;
  RouteHeaders headers;
};

struct Config {
  std::string file;         // where it was loaded from
  std::string instance_id;  // default: hostname-pid
  HostPort listen{"0.0.0.0", 8080};
  unsigned threads = 0;     // resolved: 0 in the file becomes the number of cores
  Duration drain_timeout{std::chrono::seconds(30)};
  ClientConfig client;
  UpstreamConfig upstream;
  AdminConfig admin;
  LeaseConfig lease;
  RedisConfig redis;
  SessionConfig session;
  LoggingConfig logging;
  std::vector<RouteConfig> routes;  // default: one route {prefix: /, lease: none}
};

// Loads and validates a file. Throws ConfigError (also when the file cannot be read).
Config load_config_file(const std::string& path);

// The same from text; `file` is the name used in error messages.
Config load_config_string(std::string_view yaml, const std::string& file = "<string>");

// ---- baton-lockd ------------------------------------------------------------------------
//
// The lease daemon reads a smaller file of the same shape: the proxy's lease, redis and
// logging sections (read by the same code), its own listen address, and bounds on what
// its callers may ask for.

// Bounds on the ttl and wait that callers of baton-lockd choose per request.
struct LockdLimits {
  Duration max_ttl{std::chrono::minutes(10)};
  Duration max_wait{std::chrono::minutes(1)};  // a waiting acquire keeps its request open this long
};

struct LockdConfig {
  std::string file;
  std::string instance_id;             // default: hostname-pid
  HostPort listen{"127.0.0.1", 9910};  // loopback: the API has no authentication
  unsigned threads = 0;                // resolved: 0 in the file becomes the number of cores
  Duration drain_timeout{std::chrono::seconds(30)};
  LeaseConfig lease;  // ttl and wait_timeout are the defaults of requests that name none;
                      // max_hold and on_backend_down do not apply and are not accepted
  RedisConfig redis;
  LoggingConfig logging;
  LockdLimits limits;
};

LockdConfig load_lockd_config_file(const std::string& path);
LockdConfig load_lockd_config_string(std::string_view yaml, const std::string& file = "<string>");

// One documented key of the file: the table the loader validates against, and the
// source of the YAML reference in the README.
struct KeyReference {
  std::string key;            // dotted; list items as "routes[].match.prefix"
  std::string default_value;  // as written in YAML; empty when there is none
  std::string description;
};
const std::vector<KeyReference>& config_reference();        // baton-proxy's file
const std::vector<KeyReference>& lockd_config_reference();  // baton-lockd's file

// Value parsers, shared with the command line and tests. Throw std::invalid_argument
// with a message that says what was expected.
Duration parse_duration(std::string_view text);    // "250ms", "30s", "5m", "1h", "1m30s"
std::string format_duration(Duration duration);    // the inverse: 90000ms -> "1m30s", 0 -> "0s"
std::size_t parse_size(std::string_view text);     // "512", "16k", "16KiB", "1m", "1MiB"
HostPort parse_host_port(std::string_view text);   // "0.0.0.0:8080", "[::1]:9901", ":8080"
HttpUrl parse_http_url(std::string_view text);     // "http://127.0.0.1:3000" (path must be empty or "/")
RedisUrl parse_redis_url(std::string_view text);

// ${VAR} and ${VAR:-default}; "$$" is a literal "$". Throws std::invalid_argument for an
// unset ${VAR} without a default, or an unterminated reference.
std::string expand_environment(std::string_view text);

}  // namespace baton::core
