// Session leases through real baton-proxy processes: two batons sharing a real Redis in
// front of one engine, as two replicas would be.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <future>
#include <thread>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

// The event stream route needs the session's lease and is released by its "done" event;
// everything else passes through.
ProxySettings leased_settings(std::uint16_t engine_port, const RedisServer& redis,
                              std::string wait_timeout = "10s") {
  ProxySettings settings{.upstream_port = engine_port};
  settings.lease_backend = "redis";
  settings.lease_wait_timeout = std::move(wait_timeout);
  settings.extra_yaml = "redis: { url: " + redis.url() + ", key_prefix: baton }\n"
                        "session: { sources: [ { header: X-Session-Id } ] }\n"
                        "routes:\n"
                        "  - match: { prefix: /sse }\n"
                        "    lease: required\n"
                        "    sse_done: { event: done }\n"
                        "  - match: { prefix: / }\n"
                        "    lease: none\n";
  return settings;
}

Request stream_request(std::string target, std::string session) {
  auto request = make_request(http::verb::get, std::move(target));
  if (!session.empty()) request.set("X-Session-Id", session);
  return request;
}

long long waiters_in_line(RedisServer& redis, const std::string& session) {
  std::string queue = "baton:{";  // appended: g++ 12 misreads operator+ here (-Warray-bounds)
  queue.append(session).append("}:queue");
  return redis.command({"ZCARD", queue}).integer;
}

// Opens a leased event stream and reads its head and first event: from then on the
// engine is working for the session (with hold=1, until release_hold()).
void start_stream(HttpClient& client, std::string target, std::string session) {
  client.send(stream_request(std::move(target), std::move(session)));
  REQUIRE(client.read_response_head().result() == http::status::ok);
  REQUIRE(client.read_event().has_value());
}

void read_stream_to_end(HttpClient& client) {
  while (client.read_event()) {
  }
}

}  // namespace

TEST_SUITE("session leases") {
  TEST_CASE("a leased route without a session id gets 400 and never reaches the engine") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased_settings(engine.port(), redis));
    HttpClient client(proxy.port());
    auto response = client.request(stream_request("/sse?events=1", ""));
    CHECK(response.result() == http::status::bad_request);
    CHECK(response.body().find("missing_session_id") != std::string::npos);
    CHECK(engine.received_targets().empty());
  }

  TEST_CASE("the engine sees cache bypass, identity encoding and increasing fences") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased_settings(engine.port(), redis));
    std::uint64_t previous_fence = 0;
    for (int i = 0; i < 3; ++i) {
      HttpClient client(proxy.port());
      auto request = stream_request("/sse?events=1", "fenced");
      request.set(http::field::accept_encoding, "gzip");
      request.set("Baton-Fence", "1");  // a client cannot choose its fence
      auto response = client.request(request);
      REQUIRE(response.result() == http::status::ok);
      CHECK(response[http::field::cache_control] == "no-store");
      CHECK(response["X-Accel-Buffering"] == "no");
      const auto seen = engine.last_request();
      CHECK(seen.value("Cache-Control") == "no-cache");
      CHECK(seen.value("Pragma") == "no-cache");
      CHECK(seen.value("Accept-Encoding") == "identity");
      const auto fence = std::stoull(seen.value("Baton-Fence").value_or("0"));
      CHECK(fence > previous_fence);
      previous_fence = fence;
    }
  }

  TEST_CASE("two batons never run one session at once; the second starts after done") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy first(leased_settings(engine.port(), redis));
    BatonProxy second(leased_settings(engine.port(), redis));

    HttpClient holder(first.port());
    start_stream(holder, "/sse?events=3&hold=1", "shared");  // the engine now holds the session

    HttpClient waiter(second.port());
    waiter.send(stream_request("/sse?events=1", "shared"));
    REQUIRE(wait_until(10s, [&] { return waiters_in_line(redis, "shared") == 1; }));
    CHECK(engine.received_targets().size() == 1);  // the second request waits in baton

    engine.release_hold();
    read_stream_to_end(holder);
    const auto head = waiter.read_response_head();
    CHECK(head.result() == http::status::ok);
    read_stream_to_end(waiter);
    CHECK(engine.received_targets().size() == 2);
    CHECK(engine.last_request().value("Baton-Session-Migrated") == "?1");
  }

  TEST_CASE("the next request of a session starts after done, while that stream stays open") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy first(leased_settings(engine.port(), redis));
    BatonProxy second(leased_settings(engine.port(), redis));

    HttpClient lingering(first.port());
    start_stream(lingering, "/sse?events=1&linger=1", "lingering");
    auto done = lingering.read_event();
    REQUIRE(done.has_value());
    CHECK(done->event == "done");

    // The engine has not ended the first stream, yet the session is free.
    HttpClient next(second.port());
    auto response = next.request(stream_request("/sse?events=1", "lingering"));
    CHECK(response.result() == http::status::ok);
    engine.end_lingering_streams();
    read_stream_to_end(lingering);
  }

  TEST_CASE("busy past the wait: 409 with Retry-After") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy first(leased_settings(engine.port(), redis));
    BatonProxy impatient(leased_settings(engine.port(), redis, "200ms"));

    HttpClient holder(first.port());
    start_stream(holder, "/sse?events=2&hold=1", "busy");

    HttpClient client(impatient.port());
    auto response = client.request(stream_request("/sse?events=1", "busy"));
    CHECK(response.result() == http::status::conflict);
    CHECK_FALSE(response[http::field::retry_after].empty());
    CHECK(response.body().find("session_busy") != std::string::npos);
    engine.release_hold();
    read_stream_to_end(holder);
  }

  TEST_CASE("a full line: 429 with Retry-After") {
    RedisServer redis;
    TestEngine engine;
    auto settings = leased_settings(engine.port(), redis);
    settings.lease_extra = "  max_waiters: 1\n";
    BatonProxy proxy(settings);

    HttpClient holder(proxy.port());
    start_stream(holder, "/sse?events=2&hold=1", "crowded");
    HttpClient first_waiter(proxy.port());
    first_waiter.send(stream_request("/sse?events=1", "crowded"));
    REQUIRE(wait_until(10s, [&] { return waiters_in_line(redis, "crowded") == 1; }));

    HttpClient turned_away(proxy.port());
    auto response = turned_away.request(stream_request("/sse?events=1", "crowded"));
    CHECK(response.result() == http::status::too_many_requests);
    CHECK_FALSE(response[http::field::retry_after].empty());
    engine.release_hold();
    read_stream_to_end(holder);
    CHECK(first_waiter.read_response_head().result() == http::status::ok);
  }

  TEST_CASE("a client that goes away mid-stream keeps the lease until the engine is done") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased_settings(engine.port(), redis));
    {
      HttpClient leaving(proxy.port());
      start_stream(leaving, "/sse?events=3&hold=1", "left");
    }  // the client closes its connection while the engine still works
    HttpClient next(proxy.port());
    next.send(stream_request("/sse?events=1", "left"));
    REQUIRE(wait_until(10s, [&] { return waiters_in_line(redis, "left") == 1; }));
    CHECK(engine.received_targets().size() == 1);  // still held for the engine's sake

    engine.release_hold();  // the engine finishes: done passes, the lease goes
    CHECK(next.read_response_head().result() == http::status::ok);
    read_stream_to_end(next);
    CHECK(engine.received_targets().size() == 2);
  }

  TEST_CASE("a baton killed while holding: the other serves the session after the TTL") {
    RedisServer redis;
    TestEngine engine;
    auto settings = leased_settings(engine.port(), redis);
    settings.lease_extra = "  ttl: 1s\n";
    BatonProxy doomed(settings);
    BatonProxy survivor(settings);

    HttpClient holder(doomed.port());
    start_stream(holder, "/sse?events=2&hold=1", "orphan");
    doomed.process().signal(SIGKILL);
    REQUIRE(doomed.process().wait_for_exit(10s).has_value());

    HttpClient client(survivor.port());
    auto response = client.request(stream_request("/sse?events=1", "orphan"));
    CHECK(response.result() == http::status::ok);
    engine.release_hold();
  }

  TEST_CASE("fail_open: Redis stopped, leased routes are forwarded without a lease") {
    RedisServer redis;
    TestEngine engine;
    auto settings = leased_settings(engine.port(), redis);
    settings.lease_extra = "  on_backend_down: fail_open\n";
    BatonProxy proxy(settings);
    redis.stop();
    HttpClient client(proxy.port());
    auto response = client.request(stream_request("/sse?events=1", "open"));
    CHECK(response.result() == http::status::ok);
    CHECK_FALSE(engine.last_request().value("Baton-Fence").has_value());
  }

  TEST_CASE("a session id in the JSON body: read up to the limit, then forwarded whole") {
    RedisServer redis;
    TestEngine engine;
    ProxySettings settings{.upstream_port = engine.port()};
    settings.lease_backend = "redis";
    settings.extra_yaml = "redis: { url: " + redis.url() + " }\n"
                          "session: { sources: [ { json: /sessionId } ], max_json_body: 64 }\n"
                          "routes: [ { match: { prefix: /echo }, lease: required } ]\n";
    BatonProxy proxy(settings);

    const std::string body = R"({"sessionId":"from-body","answer":42})";
    HttpClient client(proxy.port());
    auto response = client.request(make_request(http::verb::post, "/echo", body));
    REQUIRE(response.result() == http::status::ok);
    CHECK(response.body().find("\"body_length\":" + std::to_string(body.size())) != std::string::npos);
    CHECK(engine.last_request().value("Baton-Fence").has_value());

    HttpClient large(proxy.port());
    auto refused = large.request(make_request(http::verb::post, "/echo", std::string(100, ' ') + body));
    CHECK(refused.result() == http::status::payload_too_large);
  }

  TEST_CASE("Redis stopped: 503 with Retry-After (fail_closed), unleased routes still pass") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased_settings(engine.port(), redis));
    redis.stop();
    HttpClient client(proxy.port());
    auto refused = client.request(stream_request("/sse?events=1", "down"));
    CHECK(refused.result() == http::status::service_unavailable);
    CHECK_FALSE(refused[http::field::retry_after].empty());
    HttpClient other(proxy.port());
    CHECK(other.request(make_request(http::verb::get, "/echo")).result() == http::status::ok);
  }
}

}  // namespace baton::test
