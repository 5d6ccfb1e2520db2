// baton-proxy's /metrics through a real process: every scrape parses under the strict
// text-format parser, and the counters an operator graphs move as requests pass.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/prometheus_text.hpp"
#include "support/redis_server.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <optional>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

ProxySettings leased_chat(std::uint16_t engine_port, const RedisServer& redis) {
  ProxySettings settings{.upstream_port = engine_port};
  settings.lease_backend = "redis";
  settings.lease_wait_timeout = "200ms";
  settings.admin_extra = "  token: s3cret\n";
  settings.extra_yaml = "redis: { url: " + redis.url() + " }\n"
                        "session: { sources: [ { header: X-Session-Id } ] }\n"
                        "routes:\n"
                        "  - name: chat\n"
                        "    match: { prefix: /sse }\n"
                        "    lease: required\n"
                        "    sse_done: { event: done }\n"
                        "  - name: rest\n"
                        "    match: { prefix: / }\n"
                        "    lease: none\n";
  return settings;
}

ParsedMetrics scrape(const BatonProxy& proxy) {
  HttpClient client(proxy.admin_port());
  const auto response = client.request(make_admin_request(http::verb::get, "/metrics"));
  REQUIRE(response.result() == http::status::ok);
  return parse_prometheus_text(response.body());
}

// The first scrape for which `ready` holds: a request is counted just after its answer
// went out, so a scrape right after the client has it may come too early.
ParsedMetrics scrape_when(const BatonProxy& proxy, const std::function<bool(const ParsedMetrics&)>& ready) {
  std::optional<ParsedMetrics> last;
  const bool seen = wait_until(5s, [&] {
    last = scrape(proxy);
    return ready(*last);
  });
  CHECK_MESSAGE(seen, "the metrics never reached the expected state");
  return std::move(*last);
}

Request chat(std::string target, const std::string& session) {
  auto request = make_request(http::verb::get, std::move(target));
  request.set("X-Session-Id", session);
  return request;
}

const Labels chat_2xx{{"route", "chat"}, {"code_class", "2xx"}};
const Labels chat_4xx{{"route", "chat"}, {"code_class", "4xx"}};
const Labels acquired{{"route", "chat"}, {"result", "acquired"}};
const Labels busy{{"route", "chat"}, {"result", "busy"}};

}  // namespace

TEST_SUITE("metrics") {
  TEST_CASE("counters move with a leased request, a busy one and a forced release") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased_chat(engine.port(), redis));
    REQUIRE(wait_until(10s, [&] { return scrape(proxy).value("baton_redis_up") == 1; }));
    const auto start = scrape(proxy);
    CHECK(start.type("baton_requests_total") == "counter");
    CHECK(start.type("baton_request_duration_seconds") == "histogram");
    CHECK(start.type("baton_leases_held") == "gauge");

    {  // a leased request, streamed to its end
      HttpClient client(proxy.port());
      CHECK(client.request(chat("/sse?events=2", "metered")).result() == http::status::ok);
    }
    const auto after_leased = scrape_when(proxy, [&](const ParsedMetrics& now) {
      return now.value("baton_requests_total", chat_2xx) > start.value("baton_requests_total", chat_2xx);
    });
    CHECK(after_leased.value("baton_requests_total", chat_2xx) == start.value("baton_requests_total", chat_2xx) + 1);
    CHECK(after_leased.value("baton_lease_acquisitions_total", acquired) ==
          start.value("baton_lease_acquisitions_total", acquired) + 1);
    CHECK(after_leased.value("baton_lease_wait_seconds_count") == start.value("baton_lease_wait_seconds_count") + 1);
    CHECK(after_leased.value("baton_request_duration_seconds_count", {{"route", "chat"}}) ==
          start.value("baton_request_duration_seconds_count", {{"route", "chat"}}) + 1);
    CHECK(after_leased.value("baton_bytes_total", {{"direction", "out"}}) >
          start.value("baton_bytes_total", {{"direction", "out"}}));
    CHECK(after_leased.value("baton_redis_round_trip_seconds_count") >
          start.value("baton_redis_round_trip_seconds_count"));

    // The engine holds "stuck"; a second request for it waits 200 ms and gets 409.
    HttpClient holder(proxy.port());
    holder.send(chat("/sse?events=2&hold=1", "stuck"));
    REQUIRE(holder.read_response_head().result() == http::status::ok);
    REQUIRE(holder.read_event().has_value());
    {
      HttpClient client(proxy.port());
      CHECK(client.request(chat("/sse?events=1", "stuck")).result() == http::status::conflict);
    }
    const auto after_busy = scrape_when(proxy, [&](const ParsedMetrics& now) {
      return now.value("baton_requests_total", chat_4xx) > start.value("baton_requests_total", chat_4xx);
    });
    CHECK(after_busy.value("baton_leases_held") == 1);
    CHECK(after_busy.value("baton_sse_streams_active") == 1);
    CHECK(after_busy.value("baton_lease_acquisitions_total", busy) ==
          start.value("baton_lease_acquisitions_total", busy) + 1);
    CHECK(after_busy.value("baton_requests_total", chat_4xx) == start.value("baton_requests_total", chat_4xx) + 1);

    {  // an operator unsticks it
      auto request = make_admin_request(http::verb::delete_, "/leases/stuck?reason=metrics-test");
      request.set(http::field::authorization, "Bearer s3cret");
      HttpClient admin(proxy.admin_port());
      CHECK(admin.request(request).result() == http::status::ok);
    }
    const auto after_force = scrape(proxy);
    CHECK(after_force.value("baton_lease_forced_releases_total") ==
          start.value("baton_lease_forced_releases_total") + 1);

    // The request that held it runs on; its own release later is a counted no-op.
    engine.release_hold();
    while (holder.read_event()) {
    }
    CHECK(wait_until(5s, [&] {
      return scrape(proxy).value("baton_lease_late_releases_total") ==
             start.value("baton_lease_late_releases_total") + 1;
    }));
    CHECK(wait_until(5s, [&] {
      const auto end = scrape(proxy);
      return end.value("baton_leases_held") == 0 && end.value("baton_sse_streams_active") == 0;
    }));
  }
}

}  // namespace baton::test
