#include "baton/core/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef BATON_SOURCE_DIR
#error "config_test.cpp needs BATON_SOURCE_DIR (the repository root) to find docs/configuration.md"
#endif

namespace {

using namespace baton::core;
using namespace std::chrono_literals;

Config load(std::string_view yaml) { return load_config_string(yaml, "test.yaml"); }

ConfigError error_of(std::string_view yaml) {
  try {
    load(yaml);
  } catch (const ConfigError& error) {
    return error;
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  throw std::logic_error("unreachable");
}

struct Where {
  int line;
  int column;
  std::string key;
};

void check_error(std::string_view yaml, const Where& where, std::string_view message_part) {
  const ConfigError error = error_of(yaml);
  INFO("yaml:\n" << yaml << "\nwhat(): " << std::string(error.what()));
  CHECK(error.file() == "test.yaml");
  CHECK(error.line() == where.line);
  CHECK(error.column() == where.column);
  CHECK(error.key() == where.key);
  CHECK(error.message().find(message_part) != std::string::npos);
}

template <class Parse>
void check_invalid(Parse parse, std::string_view text) {
  INFO("text: '" << text << "'");
  CHECK_THROWS_AS(parse(text), std::invalid_argument);
}

// Sets (or, with nullopt, unsets) an environment variable for one test.
class ScopedEnv {
public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    apply(value);
  }
  ~ScopedEnv() { apply(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  void apply(const std::optional<std::string>& value) {
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

  std::string name_;
  std::optional<std::string> old_;
};

unsigned cores() { return std::max(1U, std::thread::hardware_concurrency()); }

std::string hostname_pid() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid());
}

// Every field in one string, to compare whole configurations.
std::string describe(const Config& c) {
  std::ostringstream out;
  const auto ms = [](Duration d) { return std::to_string(d.count()) + "ms"; };
  out << "instance_id=" << c.instance_id << " listen=" << c.listen.host << ':' << c.listen.port
      << " threads=" << c.threads << " drain=" << ms(c.drain_timeout) << '\n'
      << "client=" << ms(c.client.header_timeout) << ',' << ms(c.client.idle_timeout) << ','
      << ms(c.client.send_timeout) << ',' << c.client.max_header_size << ',' << c.client.max_body_size << '\n'
      << "upstream=" << c.upstream.url.host << ':' << c.upstream.url.port << ',' << ms(c.upstream.connect_timeout)
      << ',' << ms(c.upstream.read_timeout) << ',' << c.upstream.pool_size << ','
      << ms(c.upstream.pool_idle_timeout) << '\n'
      << "admin=" << c.admin.listen.host << ':' << c.admin.listen.port << ',' << c.admin.tokens.size() << '\n'
      << "lease=" << int(c.lease.backend) << ',' << ms(c.lease.ttl) << ',' << ms(c.lease.wait_timeout) << ','
      << ms(c.lease.max_hold) << ',' << c.lease.max_waiters << ',' << int(c.lease.on_backend_down) << '\n'
      << "redis=" << c.redis.url.tls << ',' << c.redis.url.host << ':' << c.redis.url.port << ','
      << c.redis.url.username << ',' << c.redis.url.password << ',' << c.redis.url.database << ','
      << c.redis.key_prefix << ',' << ms(c.redis.connect_timeout) << ',' << ms(c.redis.command_timeout) << '\n'
      << "session=" << c.session.pattern << ',' << c.session.max_json_body;
  for (const auto& source : c.session.sources) out << ",{" << int(source.kind) << ':' << source.value << '}';
  out << "\nlogging=" << int(c.logging.level) << ',' << int(c.logging.format) << ',' << c.logging.access_log << ','
      << int(c.logging.session_ids) << ',' << c.logging.session_hash_key;
  for (const auto& route : c.routes) {
    const auto& h = route.headers;
    out << "\nroute=" << route.name << ',' << route.match.prefix << ',' << route.match.regex << ','
        << route.match.methods.size() << ',' << int(route.lease) << ',' << int(route.sse_done.kind) << ','
        << route.sse_done.value << ',' << route.sse_done.json_pointer << ',' << h.cache_bypass << h.fence
        << h.migrated << h.identity_encoding << h.no_store << h.no_buffering;
  }
  return out.str();
}

// The example of DESIGN.md, except that the ${...} inside "{ }" is quoted: unquoted, it
// is not valid YAML (see the syntax error test).
constexpr std::string_view design_example = R"(instance_id: ${HOSTNAME:-}        # default: hostname-pid
listen: 0.0.0.0:8080
threads: 0                        # 0 = number of cores
upstream: { url: http://127.0.0.1:3000, connect_timeout: 2s, pool_size: 64 }
admin:    { listen: 127.0.0.1:9901, token: "${BATON_ADMIN_TOKEN:-}" }
lease:
  backend: redis                  # redis | memory
  ttl: 30s
  wait_timeout: 10s
  max_hold: 10m
  max_waiters: 64                 # per session; beyond -> 429
  on_backend_down: fail_closed    # fail_closed | fail_open
redis: { url: redis://127.0.0.1:6379/0, key_prefix: baton }
session:
  sources:                        # first that yields an id wins
    - header: X-Session-Id
    - cookie: sid
    - query: sessionId
    - json: /sessionId            # JSON pointer into the request body
    - path: '^/sessions/([^/]+)'
  pattern: '^[A-Za-z0-9._:-]{1,128}$'
logging: { level: info, format: json, access_log: true }   # format: json | text
routes:                           # first match wins
  - match: { prefix: /axiom, methods: [POST] }
    lease: required               # required | optional | none
    sse_done: { event: done }     # or { data: "[DONE]" } or { json: /type, equals: done }
  - match: { prefix: / }
    lease: none
)";

}  // namespace

TEST_SUITE("config") {

TEST_CASE("the DESIGN.md example loads into the expected values") {
  const ScopedEnv hostname("HOSTNAME", "node-7");
  const ScopedEnv token("BATON_ADMIN_TOKEN", "s3cret");
  const Config config = load(design_example);

  CHECK(config.file == "test.yaml");
  CHECK(config.instance_id == "node-7");
  CHECK(config.listen.host == "0.0.0.0");
  CHECK(config.listen.port == 8080);
  CHECK(config.threads == cores());
  CHECK(config.upstream.url.host == "127.0.0.1");
  CHECK(config.upstream.url.port == 3000);
  CHECK(config.upstream.connect_timeout == 2s);
  CHECK(config.upstream.read_timeout == 60s);
  CHECK(config.upstream.pool_size == 64);
  CHECK(config.admin.listen.host == "127.0.0.1");
  CHECK(config.admin.listen.port == 9901);
  REQUIRE(config.admin.tokens.size() == 1);
  CHECK(config.admin.tokens[0].name == "token");
  CHECK(config.admin.tokens[0].secret == "s3cret");
  CHECK(config.lease.backend == LeaseBackend::redis);
  CHECK(config.lease.ttl == 30s);
  CHECK(config.lease.wait_timeout == 10s);
  CHECK(config.lease.max_hold == 10min);
  CHECK(config.lease.max_waiters == 64);
  CHECK(config.lease.on_backend_down == BackendDownPolicy::fail_closed);
  CHECK_FALSE(config.redis.url.tls);
  CHECK(config.redis.url.host == "127.0.0.1");
  CHECK(config.redis.url.port == 6379);
  CHECK(config.redis.url.database == 0);
  CHECK(config.redis.key_prefix == "baton");

  REQUIRE(config.session.sources.size() == 5);
  const std::vector<std::pair<SessionSourceKind, std::string>> sources{
      {SessionSourceKind::header, "X-Session-Id"}, {SessionSourceKind::cookie, "sid"},
      {SessionSourceKind::query, "sessionId"},     {SessionSourceKind::json, "/sessionId"},
      {SessionSourceKind::path, "^/sessions/([^/]+)"}};
  for (std::size_t i = 0; i < sources.size(); ++i) {
    CHECK(config.session.sources[i].kind == sources[i].first);
    CHECK(config.session.sources[i].value == sources[i].second);
  }
  CHECK(config.session.pattern == "^[A-Za-z0-9._:-]{1,128}$");
  CHECK(config.logging.level == LogLevel::info);
  CHECK(config.logging.format == LogFormat::json);
  CHECK(config.logging.access_log);

  REQUIRE(config.routes.size() == 2);
  const RouteConfig& axiom = config.routes[0];
  CHECK(axiom.name == "/axiom");
  CHECK(axiom.match.prefix == "/axiom");
  CHECK(axiom.match.regex.empty());
  CHECK(axiom.match.methods == std::vector<std::string>{"POST"});
  CHECK(axiom.lease == LeaseMode::required);
  CHECK(axiom.sse_done.kind == SseDone::Kind::event);
  CHECK(axiom.sse_done.value == "done");
  const RouteConfig& rest = config.routes[1];
  CHECK(rest.name == "/");
  CHECK(rest.match.prefix == "/");
  CHECK(rest.match.methods.empty());
  CHECK(rest.lease == LeaseMode::none);
  CHECK(rest.sse_done.kind == SseDone::Kind::none);
}

TEST_CASE("an empty file gives the defaults") {
  const Config config = load("# nothing set\n");

  CHECK(config.instance_id == hostname_pid());
  CHECK(config.listen.host == "0.0.0.0");
  CHECK(config.listen.port == 8080);
  CHECK(config.threads == cores());
  CHECK(config.drain_timeout == 30s);
  CHECK(config.client.header_timeout == 10s);
  CHECK(config.client.idle_timeout == 60s);
  CHECK(config.client.send_timeout == 60s);
  CHECK(config.client.max_header_size == 32 * 1024);
  CHECK(config.client.max_body_size == 16 * 1024 * 1024);
  CHECK(config.upstream.url.host == "127.0.0.1");
  CHECK(config.upstream.url.port == 3000);
  CHECK(config.upstream.connect_timeout == 2s);
  CHECK(config.upstream.read_timeout == 60s);
  CHECK(config.upstream.pool_size == 64);
  CHECK(config.upstream.pool_idle_timeout == 4s);
  CHECK(config.admin.listen.host == "127.0.0.1");
  CHECK(config.admin.listen.port == 9901);
  CHECK(config.admin.tokens.empty());
  CHECK(config.lease.backend == LeaseBackend::redis);
  CHECK(config.lease.ttl == 30s);
  CHECK(config.lease.wait_timeout == 10s);
  CHECK(config.lease.max_hold == 10min);
  CHECK(config.lease.max_waiters == 64);
  CHECK(config.lease.on_backend_down == BackendDownPolicy::fail_closed);
  CHECK(config.redis.url.host == "127.0.0.1");
  CHECK(config.redis.url.port == 6379);
  CHECK(config.redis.key_prefix == "baton");
  CHECK(config.redis.connect_timeout == 1s);
  CHECK(config.redis.command_timeout == 1s);
  REQUIRE(config.session.sources.size() == 1);
  CHECK(config.session.sources[0].kind == SessionSourceKind::header);
  CHECK(config.session.sources[0].value == "X-Session-Id");
  CHECK(config.session.pattern == "^[A-Za-z0-9._:-]{1,128}$");
  CHECK(config.session.max_json_body == 64 * 1024);
  CHECK(config.logging.level == LogLevel::info);
  CHECK(config.logging.format == LogFormat::text);
  CHECK(config.logging.access_log);
  REQUIRE(config.routes.size() == 1);
  CHECK(config.routes[0].name == "/");
  CHECK(config.routes[0].match.prefix == "/");
  CHECK(config.routes[0].lease == LeaseMode::none);
  CHECK(config.routes[0].sse_done.kind == SseDone::Kind::none);

  CHECK(describe(load("")) == describe(config));
  CHECK(describe(load("client:\nroutes: []\n")) == describe(config));
}

TEST_CASE("every documented default is accepted and equals the built-in default") {
  YAML::Node document;
  for (const KeyReference& entry : config_reference()) {
    if (entry.default_value.empty() || entry.key.find('[') != std::string::npos) continue;
    const auto dot = entry.key.find('.');
    if (dot == std::string::npos)
      document[entry.key] = YAML::Load(entry.default_value);
    else
      document[entry.key.substr(0, dot)][entry.key.substr(dot + 1)] = YAML::Load(entry.default_value);
  }
  const std::string yaml = YAML::Dump(document);
  INFO(yaml);
  CHECK(describe(load(yaml)) == describe(load("")));
}

TEST_CASE("every key can be set") {
  const Config config = load(R"(
instance_id: blue-1
listen: "[::1]:8081"
threads: 3
drain_timeout: 0s
client:
  header_timeout: 5s
  idle_timeout: 2m
  send_timeout: 1m30s
  max_header_size: 16k
  max_body_size: 1MiB
upstream:
  url: http://engine.internal/
  connect_timeout: 250ms
  read_timeout: 1h
  pool_size: 8
  pool_idle_timeout: 3s
admin:
  listen: :9902
  token: first
  tokens: [second, "", {name: ops, token: third}, {name: gone, token: ""}]
lease:
  backend: memory
  ttl: 100ms
  wait_timeout: 0s
  max_hold: 100ms
  max_waiters: 1
  on_backend_down: fail_open
redis:
  url: rediss://baton:p%40ss@cache.internal:6380/3
  key_prefix: "baton:prod"
  connect_timeout: 500ms
  command_timeout: 2s
session:
  sources:
    - cookie: sid
    - json: ""
  pattern: '^[0-9a-f]{32}$'
  max_json_body: 1k
logging:
  level: warn
  format: text
  access_log: false
  session_ids: hash
  session_hash_key: k3y
routes:
  - name: stream
    match:
      regex: '^/v[0-9]+/stream$'
      methods: [get, Post]
    lease: optional
    sse_done:
      json: /type
      equals: done
    headers:
      cache_bypass: false
      fence: false
      migrated: false
      identity_encoding: false
      no_store: false
      no_buffering: false
  - match: {prefix: /chat}
    sse_done: {data: "[DONE]"}
)");

  CHECK(config.instance_id == "blue-1");
  CHECK(config.listen.host == "::1");
  CHECK(config.listen.port == 8081);
  CHECK(config.threads == 3);
  CHECK(config.drain_timeout == 0ms);
  CHECK(config.client.header_timeout == 5s);
  CHECK(config.client.idle_timeout == 2min);
  CHECK(config.client.send_timeout == 90s);
  CHECK(config.client.max_header_size == 16 * 1024);
  CHECK(config.client.max_body_size == 1024 * 1024);
  CHECK(config.upstream.url.host == "engine.internal");
  CHECK(config.upstream.url.port == 80);
  CHECK(config.upstream.connect_timeout == 250ms);
  CHECK(config.upstream.read_timeout == 1h);
  CHECK(config.upstream.pool_size == 8);
  CHECK(config.upstream.pool_idle_timeout == 3s);
  CHECK(config.admin.listen.host == "0.0.0.0");
  CHECK(config.admin.listen.port == 9902);
  REQUIRE(config.admin.tokens.size() == 3);
  CHECK(config.admin.tokens[0].name == "token");
  CHECK(config.admin.tokens[0].secret == "first");
  CHECK(config.admin.tokens[1].name == "tokens[0]");
  CHECK(config.admin.tokens[1].secret == "second");
  CHECK(config.admin.tokens[2].name == "ops");
  CHECK(config.admin.tokens[2].secret == "third");
  CHECK(config.lease.backend == LeaseBackend::memory);
  CHECK(config.lease.ttl == 100ms);
  CHECK(config.lease.wait_timeout == 0ms);
  CHECK(config.lease.max_hold == 100ms);
  CHECK(config.lease.max_waiters == 1);
  CHECK(config.lease.on_backend_down == BackendDownPolicy::fail_open);
  CHECK(config.redis.url.tls);
  CHECK(config.redis.url.username == "baton");
  CHECK(config.redis.url.password == "p@ss");
  CHECK(config.redis.url.host == "cache.internal");
  CHECK(config.redis.url.port == 6380);
  CHECK(config.redis.url.database == 3);
  CHECK(config.redis.key_prefix == "baton:prod");
  CHECK(config.redis.connect_timeout == 500ms);
  CHECK(config.redis.command_timeout == 2s);
  REQUIRE(config.session.sources.size() == 2);
  CHECK(config.session.sources[0].kind == SessionSourceKind::cookie);
  CHECK(config.session.sources[0].value == "sid");
  CHECK(config.session.sources[1].kind == SessionSourceKind::json);
  CHECK(config.session.sources[1].value == "");
  CHECK(config.session.pattern == "^[0-9a-f]{32}$");
  CHECK(config.session.max_json_body == 1024);
  CHECK(config.logging.level == LogLevel::warn);
  CHECK(config.logging.format == LogFormat::text);
  CHECK_FALSE(config.logging.access_log);
  CHECK(config.logging.session_ids == SessionIdLogging::hash);
  CHECK(config.logging.session_hash_key == "k3y");

  REQUIRE(config.routes.size() == 2);
  const RouteConfig& stream = config.routes[0];
  CHECK(stream.name == "stream");
  CHECK(stream.match.prefix.empty());
  CHECK(stream.match.regex == "^/v[0-9]+/stream$");
  CHECK(stream.match.methods == std::vector<std::string>{"GET", "POST"});
  CHECK(stream.lease == LeaseMode::optional);
  CHECK(stream.sse_done.kind == SseDone::Kind::json);
  CHECK(stream.sse_done.json_pointer == "/type");
  CHECK(stream.sse_done.value == "done");
  CHECK_FALSE(stream.headers.cache_bypass);
  CHECK_FALSE(stream.headers.fence);
  CHECK_FALSE(stream.headers.migrated);
  CHECK_FALSE(stream.headers.identity_encoding);
  CHECK_FALSE(stream.headers.no_store);
  CHECK_FALSE(stream.headers.no_buffering);
  const RouteConfig& chat = config.routes[1];
  CHECK(chat.name == "/chat");
  CHECK(chat.lease == LeaseMode::none);
  CHECK(chat.sse_done.kind == SseDone::Kind::data);
  CHECK(chat.sse_done.value == "[DONE]");
  CHECK(chat.headers.no_buffering);
}

TEST_CASE("block and flow styles read the same") {
  const Config block = load(R"(
upstream:
  url: http://10.0.0.5:3001
  pool_size: 4
routes:
  - name: api
    match:
      prefix: /api
      methods:
        - POST
    sse_done:
      event: end
)");
  const Config flow = load(R"(
upstream: {url: http://10.0.0.5:3001, pool_size: 4}
routes: [{name: api, match: {prefix: /api, methods: [POST]}, sse_done: {event: end}}]
)");
  CHECK(describe(flow) == describe(block));
  CHECK(flow.upstream.url.port == 3001);
  CHECK(flow.routes.at(0).sse_done.value == "end");
}

TEST_CASE("threads: 0 means one per core, other values are kept") {
  CHECK(load("threads: 0").threads == cores());
  CHECK(load("threads: 1024").threads == 1024);
}

TEST_CASE("instance_id that expands to nothing falls back to hostname-pid") {
  const ScopedEnv unset("BATON_TEST_UNSET", std::nullopt);
  CHECK(load("instance_id: ${BATON_TEST_UNSET:-}").instance_id == hostname_pid());
  CHECK(load("instance_id: ''").instance_id == hostname_pid());
}

TEST_CASE("ConfigError::what() reads file:line:column: key: message") {
  const ConfigError error = error_of("lease:\n  on_backend_down: maybe\n");
  CHECK(std::string(error.what()) ==
        "test.yaml:2:20: lease.on_backend_down: expected one of fail_closed, fail_open, got 'maybe'");
}

TEST_CASE("unknown keys are rejected, with a suggestion when one is close") {
  check_error("upstream:\n  url: http://127.0.0.1:3000\n  conect_timeout: 2s\n", {3, 3, "upstream.conect_timeout"},
              "unknown key, did you mean 'connect_timeout'?");
  check_error("colour: blue\n", {1, 1, "colour"}, "unknown key; expected one of instance_id, listen, threads,");
  check_error("routes:\n  - match: {prefix: /}\n    leese: required\n", {3, 5, "routes[0].leese"},
              "did you mean 'lease'?");
  check_error("session:\n  sources:\n    - heder: X-Id\n", {3, 7, "session.sources[0].heder"},
              "did you mean 'header'?");
  check_error("threads: 2\nthreads: 3\n", {2, 1, "threads"}, "duplicate key");
}

TEST_CASE("values of the wrong type are rejected") {
  check_error("listen: {host: a}\n", {1, 9, "listen"}, "expected a single value, got a map");
  check_error("upstream: http://127.0.0.1:3000\n", {1, 11, "upstream"}, "expected a map, got 'http://127.0.0.1:3000'");
  check_error("admin:\n  tokens: abc\n", {2, 11, "admin.tokens"}, "expected a list, got 'abc'");
  check_error("listen:\n", {1, 1, "listen"}, "expected a single value, got nothing");
  check_error("- a\n", {1, 1, ""}, "expected a map, got a list");
  check_error("logging: {access_log: yes}\n", {1, 23, "logging.access_log"}, "expected one of true, false, got 'yes'");
  check_error("threads: 2000\n", {1, 10, "threads"}, "expected a whole number from 0 to 1024, got '2000'");
  check_error("threads: -1\n", {1, 10, "threads"}, "from 0 to 1024");
  check_error("upstream: {pool_size: 0}\n", {1, 23, "upstream.pool_size"}, "expected a whole number of at least 1");
  check_error("lease: {max_waiters: 0}\n", {1, 22, "lease.max_waiters"}, "of at least 1");
}

TEST_CASE("bad durations are rejected") {
  check_error("upstream:\n  connect_timeout: 2\n", {2, 20, "upstream.connect_timeout"},
              "invalid duration '2': a unit is required");
  check_error("client:\n  idle_timeout: 1.5s\n", {2, 17, "client.idle_timeout"}, "invalid duration '1.5s'");
  check_error("client: {header_timeout: 0s}\n", {1, 26, "client.header_timeout"}, "must be greater than zero");
  check_error("lease:\n  ttl: 50ms\n", {2, 8, "lease.ttl"}, "must be at least 100ms, got 50ms");
  // max_hold is left at its default 10m, so the error points at the lease map.
  check_error("lease:\n  ttl: 20m\n", {2, 3, "lease.max_hold"}, "must be at least lease.ttl (20m), got 10m");
  check_error("lease: {ttl: 1m, max_hold: 30s}\n", {1, 28, "lease.max_hold"}, "must be at least lease.ttl (1m), got 30s");
}

TEST_CASE("bad sizes are rejected") {
  check_error("client:\n  max_body_size: 16 MB\n", {2, 18, "client.max_body_size"}, "invalid size '16 MB'");
  check_error("session: {max_json_body: 0}\n", {1, 26, "session.max_json_body"}, "must be greater than zero");
}

TEST_CASE("bad addresses and URLs are rejected") {
  check_error("listen: 0.0.0.0:70000\n", {1, 9, "listen"}, "expected a port from 1 to 65535");
  check_error("admin:\n  listen: 127.0.0.1:0\n", {2, 11, "admin.listen"}, "expected a port from 1 to 65535");
  check_error("listen: 8080\n", {1, 9, "listen"}, "expected host:port");
  check_error("upstream: {url: 'https://engine:3000'}\n", {1, 17, "upstream.url"}, "https is not supported");
  check_error("upstream:\n  url: http://engine:3000/api\n", {2, 8, "upstream.url"}, "a path, query or fragment");
  check_error("redis:\n  url: redis://cache/x\n", {2, 8, "redis.url"}, "expected /<database number>");

  const ConfigError with_password = error_of("redis: {url: 'redis://:hunter2@cache:99999'}\n");
  CHECK(with_password.key() == "redis.url");
  CHECK(with_password.message().find("***@cache:99999") != std::string::npos);
  CHECK(std::string(with_password.what()).find("hunter2") == std::string::npos);
}

TEST_CASE("an admin endpoint off loopback needs a token") {
  check_error("admin:\n  listen: 0.0.0.0:9901\n", {2, 11, "admin.listen"}, "needs a bearer token");
  check_error("admin: {listen: '[::]:9901', token: ''}\n", {1, 17, "admin.listen"}, "needs a bearer token");
  CHECK(load("admin: {listen: 0.0.0.0:9901, token: t}\n").admin.tokens.size() == 1);
  CHECK(load("admin: {listen: '[::1]:9901'}\n").admin.tokens.empty());
  CHECK(load("admin: {listen: localhost:9901}\n").admin.tokens.empty());
  check_error("admin:\n  tokens: [{token: t}]\n", {2, 12, "admin.tokens[0].name"}, "is required");
}

TEST_CASE("session_ids: hash needs a key") {
  check_error("logging:\n  session_ids: hash\n", {2, 3, "logging.session_hash_key"}, "is required");
  check_error("logging: {session_ids: sha}\n", {1, 24, "logging.session_ids"}, "expected one of plain, hash");
}

TEST_CASE("bad enum values list the allowed ones") {
  check_error("lease:\n  on_backend_down: maybe\n", {2, 20, "lease.on_backend_down"},
              "expected one of fail_closed, fail_open, got 'maybe'");
  check_error("logging: {level: verbose}\n", {1, 18, "logging.level"},
              "expected one of trace, debug, info, warn, error, critical, off, got 'verbose'");
  check_error("routes:\n  - match: {prefix: /}\n    lease: always\n", {3, 12, "routes[0].lease"},
              "expected one of required, optional, none, got 'always'");
}

TEST_CASE("bad regexes are rejected") {
  check_error("session:\n  pattern: '^[a-z'\n", {2, 12, "session.pattern"}, "invalid regex '^[a-z'");
  check_error("session:\n  sources:\n    - path: '^/sessions/'\n", {3, 13, "session.sources[0].path"},
              "needs a capture group");
  check_error("routes:\n  - match: {regex: '(unclosed'}\n", {2, 20, "routes[0].match.regex"}, "invalid regex");
}

TEST_CASE("session sources are checked") {
  check_error("session:\n  sources:\n    - {header: X-Id, cookie: sid}\n", {3, 7, "session.sources[0]"},
              "set exactly one of header, cookie, query, json, path; got header, cookie");
  check_error("session:\n  sources:\n    - json: sessionId\n", {3, 13, "session.sources[0].json"},
              "invalid JSON pointer 'sessionId'");
  check_error("session:\n  sources:\n    - json: /a~2b\n", {3, 13, "session.sources[0].json"}, "invalid JSON pointer");
  check_error("session:\n  sources:\n    - header: 'X Session'\n", {3, 15, "session.sources[0].header"},
              "expected an HTTP token");
  check_error("session:\n  sources: []\n", {2, 12, "session.sources"}, "must not be empty");
  check_error("session:\n  sources:\n    - X-Session-Id\n", {3, 7, "session.sources[0]"}, "expected a map");
}

TEST_CASE("routes are checked") {
  check_error("routes:\n  - match: {prefix: api}\n", {2, 21, "routes[0].match.prefix"}, "must start with '/'");
  check_error("routes:\n  - match: {prefix: /a, regex: '^/a'}\n", {2, 12, "routes[0].match"},
              "set exactly one of prefix, regex; got prefix, regex");
  check_error("routes:\n  - lease: none\n", {2, 5, "routes[0].match"}, "is required");
  check_error("routes:\n  - match: {prefix: /, methods: [GET, 'PO ST']}\n", {2, 39, "routes[0].match.methods[1]"},
              "expected an HTTP token");
  check_error("routes:\n  - match: {prefix: /a}\n  - name: /a\n    match: {prefix: /b}\n", {3, 11, "routes[1].name"},
              "route name '/a' is already used by routes[0]; names must be unique");
  // Without a name: the name defaults to the prefix, so the error points at the route.
  check_error("routes:\n  - match: {prefix: /a}\n  - match: {prefix: /a}\n", {3, 5, "routes[1].name"},
              "already used by routes[0]");
}

TEST_CASE("sse_done takes exactly one form") {
  check_error("routes:\n  - match: {prefix: /}\n    sse_done: {event: done, data: '[DONE]'}\n",
              {3, 15, "routes[0].sse_done"}, "set exactly one of event, data, json; got event, data");
  check_error("routes:\n  - match: {prefix: /}\n    sse_done: {}\n", {3, 15, "routes[0].sse_done"},
              "set exactly one of event, data, json");
  check_error("routes:\n  - match: {prefix: /}\n    sse_done: {json: /type}\n", {3, 15, "routes[0].sse_done.equals"},
              "is required");
  check_error("routes:\n  - match: {prefix: /}\n    sse_done: {event: done, equals: x}\n",
              {3, 37, "routes[0].sse_done.equals"}, "only goes with json");
}

TEST_CASE("redis.key_prefix must be usable in Redis Cluster") {
  check_error("redis: {key_prefix: 'baton{x}'}\n", {1, 21, "redis.key_prefix"}, "must not contain braces");
  check_error("redis: {key_prefix: ''}\n", {1, 21, "redis.key_prefix"}, "must not be empty");
}

TEST_CASE("YAML syntax errors and unreadable files are ConfigErrors") {
  check_error("routes: [a, b\n", {2, 1, ""}, "end of sequence flow not found");
  check_error("threads: 1\n---\nthreads: 2\n", {3, 1, ""}, "expected one YAML document");
  check_error("admin: { token: ${BATON_ADMIN_TOKEN:-} }\n", {1, 18, ""},
              "end of map flow not found (quote a ${...} value inside { } or [ ], as in \"${VAR}\")");

  try {
    load_config_file("/nonexistent/baton.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(error.file() == "/nonexistent/baton.yaml");
    CHECK(error.line() == 0);
    CHECK(std::string(error.what()) == "/nonexistent/baton.yaml: cannot read: No such file or directory");
  }
  CHECK_THROWS_WITH_AS(load_config_file("/"), "/: cannot read: Is a directory", ConfigError);
}

TEST_CASE("load_config_file reads the file and names it in errors") {
  const std::string path = "/tmp/baton-config-test-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << "listen: 127.0.0.1:8088\nupstream: {url: http://127.0.0.1:1}\nlease: {ttl: 5}\n";
  try {
    load_config_file(path);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(std::string(error.what()).starts_with(path + ":3:14: lease.ttl: invalid duration '5'"));
  }
  std::ofstream(path) << "listen: 127.0.0.1:8088\n";
  const Config config = load_config_file(path);
  CHECK(config.file == path);
  CHECK(config.listen.port == 8088);
  std::remove(path.c_str());
}

TEST_CASE("environment references expand in every value") {
  const ScopedEnv host("BATON_TEST_HOST", "10.1.2.3");
  const ScopedEnv port("BATON_TEST_PORT", std::nullopt);
  const ScopedEnv token("BATON_TEST_TOKEN", "t0k");
  const Config config = load(R"(
upstream: {url: "http://${BATON_TEST_HOST}:${BATON_TEST_PORT:-3005}"}
admin: {tokens: ["${BATON_TEST_TOKEN}", "${BATON_TEST_PORT:-}"]}
session: {pattern: '^a$$b$'}
)");
  CHECK(config.upstream.url.host == "10.1.2.3");
  CHECK(config.upstream.url.port == 3005);
  REQUIRE(config.admin.tokens.size() == 1);
  CHECK(config.admin.tokens[0].secret == "t0k");
  CHECK(config.session.pattern == "^a$b$");
}

TEST_CASE("an unset ${VAR} without a default is an error at its value") {
  const ScopedEnv unset("BATON_TEST_UNSET_HOST", std::nullopt);
  check_error("upstream:\n  url: http://${BATON_TEST_UNSET_HOST}:3000\n", {2, 8, "upstream.url"},
              "environment variable BATON_TEST_UNSET_HOST is not set");
  // Keys are never expanded.
  check_error("${BATON_TEST_UNSET_HOST}: 1\n", {1, 1, "${BATON_TEST_UNSET_HOST}"}, "unknown key");
}

TEST_CASE("expand_environment") {
  const ScopedEnv set("BATON_TEST_SET", "value");
  const ScopedEnv empty("BATON_TEST_EMPTY", "");
  const ScopedEnv unset("BATON_TEST_UNSET", std::nullopt);

  CHECK(expand_environment("plain") == "plain");
  CHECK(expand_environment("a-${BATON_TEST_SET}-b") == "a-value-b");
  CHECK(expand_environment("${BATON_TEST_SET:-other}") == "value");
  CHECK(expand_environment("${BATON_TEST_UNSET:-fallback}") == "fallback");
  CHECK(expand_environment("${BATON_TEST_EMPTY:-fallback}") == "fallback");
  CHECK(expand_environment("${BATON_TEST_EMPTY}") == "");
  CHECK(expand_environment("${BATON_TEST_UNSET:-}") == "");
  CHECK(expand_environment("$${BATON_TEST_SET}") == "${BATON_TEST_SET}");
  CHECK(expand_environment("cost: 5$") == "cost: 5$");

  CHECK_THROWS_WITH_AS(expand_environment("${BATON_TEST_UNSET}"),
                       "environment variable BATON_TEST_UNSET is not set (write ${BATON_TEST_UNSET:-default} to give a default)",
                       std::invalid_argument);
  check_invalid(expand_environment, "${BATON_TEST_SET");
  check_invalid(expand_environment, "${}");
  check_invalid(expand_environment, "${1ABC}");
  check_invalid(expand_environment, "${BATON_TEST_UNSET:-${BATON_TEST_SET}}");
}

TEST_CASE("parse_duration") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("1h0m5s250ms") == 3605250ms);
  CHECK(parse_duration("0s") == 0ms);

  CHECK_THROWS_WITH_AS(parse_duration("30"), "invalid duration '30': a unit is required (ms, s, m or h), as in 30s",
                       std::invalid_argument);
  for (const auto* text : {"", "s", "1.5s", "-1s", "30 s", " 30s", "5d", "1m30", "1s1m", "1s1s", "99999999999999999999h",
                           "9999999999999h"})
    check_invalid(parse_duration, text);
}

TEST_CASE("parse_size") {
  CHECK(parse_size("512") == 512);
  CHECK(parse_size("16k") == 16 * 1024);
  CHECK(parse_size("16K") == 16 * 1024);
  CHECK(parse_size("16KiB") == 16 * 1024);
  CHECK(parse_size("1m") == 1024 * 1024);
  CHECK(parse_size("1MiB") == 1024 * 1024);
  CHECK(parse_size("1g") == 1024 * 1024 * 1024);
  CHECK(parse_size("0") == 0);

  for (const auto* text : {"", "k", "16kb", "16 k", "-1", "1.5m", "1T", "99999999999999999999", "99999999999999g"})
    check_invalid(parse_size, text);
}

TEST_CASE("parse_host_port") {
  const HostPort any = parse_host_port("0.0.0.0:8080");
  CHECK(any.host == "0.0.0.0");
  CHECK(any.port == 8080);
  const HostPort v6 = parse_host_port("[::1]:9901");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 9901);
  const HostPort no_host = parse_host_port(":8080");
  CHECK(no_host.host == "0.0.0.0");
  CHECK(no_host.port == 8080);
  CHECK(parse_host_port("localhost:65535").host == "localhost");

  CHECK_THROWS_WITH_AS(parse_host_port("::1:80"), "invalid address '::1:80': an IPv6 address needs brackets, as in [::1]:9901",
                       std::invalid_argument);
  for (const auto* text : {"", "8080", "host:", "host:0", "host:65536", "host:80x", "[::1]", "[::1", "[::1]80", "[]:80",
                           "ho st:80", "host/x:80"})
    check_invalid(parse_host_port, text);
}

TEST_CASE("parse_http_url") {
  const HttpUrl url = parse_http_url("http://127.0.0.1:3000");
  CHECK(url.host == "127.0.0.1");
  CHECK(url.port == 3000);
  CHECK(parse_http_url("http://engine:8080/").port == 8080);
  CHECK(parse_http_url("http://engine").port == 80);
  CHECK(parse_http_url("http://[::1]:3001").host == "::1");

  for (const auto* text : {"", "127.0.0.1:3000", "https://engine:3000", "ftp://engine", "http://", "http://:3000",
                           "http://engine:3000/api", "http://engine:3000?x=1", "http://engine:3000#f",
                           "http://user:pw@engine:3000", "http://engine:0"})
    check_invalid(parse_http_url, text);
}

TEST_CASE("parse_redis_url") {
  const RedisUrl local = parse_redis_url("redis://127.0.0.1:6379/0");
  CHECK_FALSE(local.tls);
  CHECK(local.host == "127.0.0.1");
  CHECK(local.port == 6379);
  CHECK(local.username.empty());
  CHECK(local.password.empty());
  CHECK(local.database == 0);

  const RedisUrl full = parse_redis_url("rediss://baton:p%40ss%2Fw@cache.internal:6380/15");
  CHECK(full.tls);
  CHECK(full.username == "baton");
  CHECK(full.password == "p@ss/w");
  CHECK(full.host == "cache.internal");
  CHECK(full.port == 6380);
  CHECK(full.database == 15);

  const RedisUrl password_only = parse_redis_url("redis://:secret@cache/");
  CHECK(password_only.username.empty());
  CHECK(password_only.password == "secret");
  CHECK(password_only.port == 6379);
  CHECK(password_only.database == 0);
  CHECK(parse_redis_url("redis://[::1]:7000/2").host == "::1");

  for (const auto* text : {"", "http://cache", "redis://", "redis://cache:99999", "redis://cache/x", "redis://cache/-1",
                           "redis://cache/0?timeout=1", "redis://u:p%zz@cache", "redis://u:p%4@cache"})
    check_invalid(parse_redis_url, text);
}

// The rows "| `key` | `default` | description |" of the key table under `heading` in a
// Markdown file, in their order, up to the next heading of the same or a higher level
// (lines inside fenced code are not headings). Empty when the heading is missing.
std::vector<std::pair<std::string, std::string>> key_table_rows(const std::string& path, std::string_view heading) {
  std::ifstream file(path);
  REQUIRE_MESSAGE(file.good(), "cannot read ", path);
  const auto level = heading.find_first_not_of('#');
  std::vector<std::pair<std::string, std::string>> rows;
  bool in_section = false;
  bool in_fence = false;
  for (std::string line; std::getline(file, line);) {
    if (line.starts_with("```")) in_fence = !in_fence;
    if (in_fence) continue;
    if (line.starts_with("#")) {
      if (line == heading) {
        in_section = true;
        continue;
      }
      if (in_section && line.find_first_not_of('#') <= level) break;
    }
    if (!in_section || !line.starts_with("| `")) continue;
    const auto key_end = line.find('`', 3);
    REQUIRE_MESSAGE(key_end != std::string::npos, path, ": ", line);
    rows.emplace_back(line.substr(3, key_end - 3), line);
  }
  return rows;
}

// The table under `heading` has exactly one row per key of config_reference(), in its
// order, each row "| `key` | `default` | description |" as the reference writes it.
void check_key_table(const std::string& name, std::string_view heading) {
  INFO(name << ", section \"" << heading << "\"");
  const auto rows = key_table_rows(BATON_SOURCE_DIR "/" + name, heading);
  REQUIRE_MESSAGE(!rows.empty(), "no key table under that heading");

  const auto row = [](const KeyReference& entry) {
    const std::string value = entry.default_value.empty() ? "" : "`" + entry.default_value + "`";
    return "| `" + entry.key + "` | " + value + " | " + entry.description + " |";
  };
  const auto& reference = config_reference();
  std::map<std::string, std::string> documented;
  for (const auto& [key, line] : rows) {
    INFO("key: " << key);
    CHECK_MESSAGE(documented.emplace(key, line).second, "listed twice");
    CHECK_MESSAGE(std::any_of(reference.begin(), reference.end(), [&key](const KeyReference& e) { return e.key == key; }),
                  "documented but not in config_reference()");
  }
  for (const KeyReference& entry : reference) {
    INFO("key: " << entry.key);
    const auto found = documented.find(entry.key);
    CHECK_MESSAGE(found != documented.end(), "in config_reference() but not documented");
    if (found != documented.end()) CHECK(found->second == row(entry));
  }

  std::vector<std::string> documented_order;
  for (const auto& [key, line] : rows) documented_order.push_back(key);
  std::vector<std::string> reference_order;
  for (const KeyReference& entry : reference) reference_order.push_back(entry.key);
  CHECK_MESSAGE(documented_order == reference_order, "rows are not in the order of config_reference()");
}

TEST_CASE("docs/configuration.md lists exactly the keys of config_reference()") {
  check_key_table("docs/configuration.md", "## Keys");
}

TEST_CASE("README.md lists exactly the keys of config_reference()") {
  check_key_table("README.md", "### Configuration keys");
}

}  // TEST_SUITE
