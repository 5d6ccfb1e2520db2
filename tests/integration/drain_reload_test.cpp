// Drain (SIGTERM) and reload (SIGHUP) of a real baton-proxy: what a Kubernetes rollout
// and an operator's `kill -HUP` rely on.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>

#include <csignal>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

const std::string sse_route = "  - match: { prefix: /sse }\n"
                              "    lease: required\n"
                              "    sse_done: { event: done }\n";
const std::string echo_route = "  - match: { prefix: /echo }\n"
                               "    lease: required\n";
const std::string catch_all = "  - match: { prefix: / }\n"
                              "    lease: none\n";

ProxySettings settings_with_routes(std::uint16_t engine_port, const RedisServer& redis, const std::string& routes) {
  ProxySettings settings{.upstream_port = engine_port};
  settings.lease_backend = "redis";
  settings.extra_yaml = "redis: { url: " + redis.url() + " }\n"
                        "session: { sources: [ { header: X-Session-Id } ] }\n"
                        "routes:\n" + routes;
  return settings;
}

bool lease_exists(RedisServer& redis, const std::string& session) {
  std::string key = "baton:{";  // appended: g++ 12 misreads operator+ here (-Warray-bounds)
  key.append(session).append("}:lease");
  return redis.command({"EXISTS", key}).integer == 1;
}

void start_held_stream(HttpClient& client, const std::string& session) {
  auto request = make_request(http::verb::get, "/sse?events=3&hold=1");
  request.set("X-Session-Id", session);
  client.send(request);
  REQUIRE(client.read_response_head().result() == http::status::ok);
  REQUIRE(client.read_event().has_value());
}

http::status status_without_session(std::uint16_t port, std::string target) {
  HttpClient client(port);
  return client.request(make_request(http::verb::get, std::move(target))).result();
}

// Rewrites the proxy's file and sends SIGHUP; returns once the log shows `outcome` once more.
void reload(BatonProxy& proxy, const std::string& yaml, const std::string& outcome) {
  const auto count = [&] {
    const std::string log = proxy.log();
    std::size_t found = 0;
    for (auto at = log.find(outcome); at != std::string::npos; at = log.find(outcome, at + 1)) ++found;
    return found;
  };
  const std::size_t before = count();
  write_file(proxy.dir() / "baton.yaml", yaml);
  proxy.process().signal(SIGHUP);
  REQUIRE_MESSAGE(wait_until(5s, [&] { return count() > before; }), "no '", outcome, "' in the log");
}

}  // namespace

TEST_SUITE("drain and reload") {
  TEST_CASE("SIGTERM: a leased stream runs to its end, new connections are refused, the lease ends, exit 0") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(settings_with_routes(engine.port(), redis, sse_route + catch_all));
    HttpClient client(proxy.port());
    start_held_stream(client, "draining");

    proxy.process().signal(SIGTERM);
    CHECK(wait_until(3s, [&] { return !port_accepts(proxy.port()); }));
    CHECK(lease_exists(redis, "draining"));  // the engine still works for the session
    {  // a Kubernetes readiness probe takes the pod out of the Service meanwhile
      HttpClient admin(proxy.admin_port());
      CHECK(admin.request(make_admin_request(http::verb::get, "/readyz")).result() == http::status::service_unavailable);
    }

    engine.release_hold();
    while (client.read_event()) {
    }
    const auto status = proxy.process().wait_for_exit(5s);
    REQUIRE_MESSAGE(status.has_value(), "baton-proxy still runs after its last stream ended");
    CHECK_MESSAGE(status->exited_with(0), *status);
    CHECK_FALSE(lease_exists(redis, "draining"));
  }

  TEST_CASE("SIGTERM: a stream still running at the drain deadline loses its lease before exit, long before the TTL") {
    RedisServer redis;
    TestEngine engine;
    auto settings = settings_with_routes(engine.port(), redis, sse_route + catch_all);
    settings.drain_timeout = "500ms";
    settings.lease_extra = "  ttl: 60s\n";
    BatonProxy proxy(settings);
    HttpClient client(proxy.port());
    start_held_stream(client, "stuck");

    proxy.process().signal(SIGTERM);
    const auto status = proxy.process().wait_for_exit(10s);
    REQUIRE_MESSAGE(status.has_value(), "baton-proxy did not exit after the drain deadline");
    CHECK_MESSAGE(status->exited_with(0), *status);
    CHECK_FALSE(lease_exists(redis, "stuck"));
    engine.release_hold();
  }

  TEST_CASE("SIGHUP: a broken file keeps the running rules; a good one applies its routes") {
    RedisServer redis;
    TestEngine engine;
    auto settings = settings_with_routes(engine.port(), redis, sse_route + catch_all);
    BatonProxy proxy(settings);
    REQUIRE(status_without_session(proxy.port(), "/echo") == http::status::ok);

    reload(proxy, proxy_config(settings, proxy.port(), proxy.admin_port()) + "  - match: { prefix: [\n",
           "reload failed");
    CHECK(proxy.log().find("baton.yaml:") != std::string::npos);  // the error names file and line
    CHECK(status_without_session(proxy.port(), "/echo") == http::status::ok);
    CHECK(status_without_session(proxy.port(), "/sse?events=1") == http::status::bad_request);

    settings = settings_with_routes(engine.port(), redis, echo_route + catch_all);
    reload(proxy, proxy_config(settings, proxy.port(), proxy.admin_port()), "reloaded");
    CHECK(status_without_session(proxy.port(), "/echo") == http::status::bad_request);
    CHECK(status_without_session(proxy.port(), "/sse?events=1") == http::status::ok);
    CHECK(proxy.process().running());
  }

  TEST_CASE("SIGHUP: keys bound at start are named in the log and keep their running value") {
    RedisServer redis;
    TestEngine engine;
    auto settings = settings_with_routes(engine.port(), redis, catch_all);
    BatonProxy proxy(settings);
    settings.lease_wait_timeout = "1s";
    reload(proxy, proxy_config(settings, proxy.port(), proxy.admin_port()), "reloaded");
    CHECK(proxy.log().find("lease changed") != std::string::npos);
    CHECK(status_without_session(proxy.port(), "/echo") == http::status::ok);
  }

  TEST_CASE("a request keeps the rules it started under when a reload replaces them") {
    RedisServer redis;
    TestEngine engine;
    auto settings = settings_with_routes(engine.port(), redis, sse_route + catch_all);
    BatonProxy proxy(settings);
    HttpClient client(proxy.port());
    start_held_stream(client, "across-reload");

    settings = settings_with_routes(engine.port(), redis, catch_all);
    reload(proxy, proxy_config(settings, proxy.port(), proxy.admin_port()), "reloaded");
    CHECK(lease_exists(redis, "across-reload"));
    engine.release_hold();
    while (client.read_event()) {
    }
    CHECK(wait_until(2s, [&] { return !lease_exists(redis, "across-reload"); }));
    CHECK(status_without_session(proxy.port(), "/sse?events=1") == http::status::ok);
  }
}

}  // namespace baton::test
