// baton-proxy's admin listener, through real processes: two batons sharing a real Redis
// in front of one engine, and the admin API of each.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/prometheus_text.hpp"
#include "support/redis_server.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <csignal>
#include <map>
#include <optional>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view token = "s3cret";
const std::string admin_tokens = "  tokens:\n"
                                 "    - { name: alice, token: s3cret }\n";

// A baton named `instance` whose /sse route needs the session's lease (route "chat").
ProxySettings leased(std::uint16_t engine_port, const RedisServer& redis, const std::string& instance) {
  ProxySettings settings{.upstream_port = engine_port};
  settings.lease_backend = "redis";
  settings.admin_extra = admin_tokens;
  settings.extra_yaml = "instance_id: " + instance + "\n"
                        "redis: { url: " + redis.url() + " }\n"
                        "session: { sources: [ { header: X-Session-Id } ] }\n"
                        "routes:\n"
                        "  - name: chat\n"
                        "    match: { prefix: /sse }\n"
                        "    lease: required\n"
                        "    sse_done: { event: done }\n";
  return settings;
}

// One admin request on a fresh connection; `bearer` empty sends no Authorization.
Response admin(const BatonProxy& proxy, http::verb method, std::string target, std::string_view bearer = token) {
  auto request = make_admin_request(method, std::move(target));
  if (!bearer.empty()) request.set(http::field::authorization, "Bearer " + std::string(bearer));
  HttpClient client(proxy.admin_port());
  return client.request(std::move(request));
}

Response admin_get(const BatonProxy& proxy, std::string target) {
  return admin(proxy, http::verb::get, std::move(target), {});
}

rapidjson::Document json_of(const Response& response) {
  rapidjson::Document document;
  document.Parse(response.body().data(), response.body().size());
  REQUIRE_MESSAGE(!document.HasParseError(), "not JSON: ", response.body());
  REQUIRE(document.IsObject());
  return document;
}

std::string text_at(const rapidjson::Value& object, const char* name) {
  REQUIRE_MESSAGE(object.HasMember(name), "no member ", name);
  REQUIRE(object[name].IsString());
  return object[name].GetString();
}

// One lease as GET /leases shows it.
struct Shown {
  std::string instance;
  std::string route;
  std::uint64_t fence = 0;
  std::uint64_t waiters = 0;
};

Shown shown(const rapidjson::Value& lease) {
  return {text_at(lease, "instance"), text_at(lease, "route"), lease["fence"].GetUint64(),
          lease["waiters"].GetUint64()};
}

// Every lease, by session, walking the pages of `target` ("/leases?limit=1"); `pages`
// counts them. A session listed twice fails the test.
std::map<std::string, Shown> walk_leases(const BatonProxy& proxy, const std::string& target, int* pages = nullptr) {
  std::map<std::string, Shown> leases;
  std::string cursor;
  for (int page = 1; page <= 10'000; ++page) {
    const auto response = admin_get(proxy, target + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(response.result() == http::status::ok);
    const auto json = json_of(response);
    for (const auto& lease : json["leases"].GetArray()) {
      const std::string session = text_at(lease, "session");
      CHECK_MESSAGE(leases.count(session) == 0, "listed twice: ", session);
      leases[session] = shown(lease);
    }
    if (pages != nullptr) *pages = page;
    if (json["next_cursor"].IsNull()) return leases;
    cursor = json["next_cursor"].GetString();
  }
  FAIL("the pages never ended");
  return leases;
}

// The session's lease as GET /leases/{sid} shows it; nullopt when free.
std::optional<Shown> lease_of(const BatonProxy& proxy, const std::string& session) {
  const auto response = admin_get(proxy, "/leases/" + session);
  if (response.result() == http::status::not_found) return std::nullopt;
  REQUIRE(response.result() == http::status::ok);
  return shown(json_of(response));
}

void wait_for_waiters(const BatonProxy& proxy, const std::string& session, std::uint64_t waiters) {
  const bool seen = wait_until(10s, [&] {
    const auto lease = lease_of(proxy, session);
    return lease && lease->waiters == waiters;
  });
  REQUIRE_MESSAGE(seen, "session ", session, " never had ", waiters, " waiter(s)");
}

Request session_request(std::string target, const std::string& session) {
  auto request = make_request(http::verb::get, std::move(target));
  request.set("X-Session-Id", session);
  return request;
}

// A stream that holds the session while the engine holds it (hold=1).
void hold_session(HttpClient& client, const std::string& session) {
  client.send(session_request("/sse?events=2&hold=1", session));
  REQUIRE(client.read_response_head().result() == http::status::ok);
  REQUIRE(client.read_event().has_value());
}

void finish_stream(HttpClient& client) {
  while (client.read_event()) {
  }
}

http::status readiness(const BatonProxy& proxy) { return admin_get(proxy, "/readyz").result(); }

// Until a baton's Redis connections are up, its leased routes and lease listings answer 503.
void wait_until_ready(const BatonProxy& proxy) {
  REQUIRE_MESSAGE(wait_until(10s, [&] { return readiness(proxy) == http::status::ok; }),
                  "baton-proxy on ", proxy.port(), " never became ready");
}

// The configuration of BatonProxy, with the admin listener on `host` instead of 127.0.0.1.
std::string config_with_admin_host(const ProxySettings& settings, std::uint16_t admin_port,
                                   const std::string& host) {
  std::string yaml = proxy_config(settings, free_port(), admin_port);
  const std::string loopback = "127.0.0.1:" + std::to_string(admin_port);
  yaml.replace(yaml.find(loopback), loopback.size(), host + ":" + std::to_string(admin_port));
  return yaml;
}

// GET /leases as an event stream, on a connection of its own: the head read, the events
// to follow.
std::unique_ptr<HttpClient> open_lease_stream(const BatonProxy& proxy) {
  auto client = std::make_unique<HttpClient>(proxy.admin_port());
  auto request = make_admin_request(http::verb::get, "/leases");
  request.set(http::field::accept, "text/event-stream");
  client->send(std::move(request));
  return client;
}

// The sessions of the next "leases" event of a stream, with their holders.
std::map<std::string, std::string> next_snapshot(HttpClient& stream) {
  for (;;) {
    const auto event = stream.read_event();
    REQUIRE_MESSAGE(event.has_value(), "the lease stream ended");
    if (event->event != "leases") continue;
    rapidjson::Document json;
    json.Parse(event->data.data(), event->data.size());
    REQUIRE_MESSAGE(!json.HasParseError(), "not JSON: ", event->data);
    CHECK_FALSE(json["truncated"].GetBool());
    std::map<std::string, std::string> holders;
    for (const auto& lease : json["leases"].GetArray()) holders[text_at(lease, "session")] = text_at(lease, "instance");
    return holders;
  }
}

std::unique_ptr<Process> start_proxy(const TempDir& dir, const std::string& yaml) {
  write_file(dir / "baton.yaml", yaml);
  return std::make_unique<Process>(ProcessOptions{.program = proxy_program(),
                                                  .args = {"--config", (dir / "baton.yaml").string()},
                                                  .env = {},
                                                  .log_file = dir / "baton-proxy.log"});
}

}  // namespace

TEST_SUITE("admin listener") {
  TEST_CASE("leases held through two batons: holder, route, fence and waiters; scope=local; pages") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy first(leased(engine.port(), redis, "baton-a"));
    BatonProxy second(leased(engine.port(), redis, "baton-b"));
    wait_until_ready(first);
    wait_until_ready(second);

    HttpClient alpha(first.port());
    hold_session(alpha, "alpha");
    HttpClient beta(second.port());
    hold_session(beta, "beta");
    HttpClient gamma(first.port());
    hold_session(gamma, "gamma");
    HttpClient waiter(second.port());
    waiter.send(session_request("/sse?events=1", "alpha"));
    wait_for_waiters(first, "alpha", 1);

    for (const BatonProxy* proxy : {&first, &second}) {
      const auto all = walk_leases(*proxy, "/leases?limit=1000");
      REQUIRE(all.size() == 3);
      CHECK(all.at("alpha").instance == "baton-a");
      CHECK(all.at("alpha").route == "chat");
      CHECK(all.at("alpha").fence > 0);
      CHECK(all.at("alpha").waiters == 1);
      CHECK(all.at("beta").instance == "baton-b");
      CHECK(all.at("beta").waiters == 0);
      CHECK(all.at("gamma").instance == "baton-a");
    }

    const auto local = walk_leases(second, "/leases?scope=local&limit=1000");
    CHECK(local.size() == 1);
    CHECK(local.count("beta") == 1);

    int pages = 0;
    const auto paged = walk_leases(first, "/leases?limit=1", &pages);
    CHECK(paged.size() == 3);
    CHECK(pages > 1);

    const auto one = admin_get(first, "/leases/beta");
    CHECK(one.result() == http::status::ok);
    CHECK(text_at(json_of(one), "session") == "beta");
    const auto free = admin_get(first, "/leases/nobody");
    CHECK(free.result() == http::status::not_found);
    CHECK(text_at(json_of(free), "error") == "no_lease");

    engine.release_hold();
    finish_stream(alpha);
    finish_stream(beta);
    finish_stream(gamma);
    CHECK(waiter.read_response_head().result() == http::status::ok);
    finish_stream(waiter);
  }

  TEST_CASE("DELETE force-releases: the request waiting on the other baton runs, and the audit line says who and why") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy first(leased(engine.port(), redis, "baton-a"));
    BatonProxy second(leased(engine.port(), redis, "baton-b"));
    wait_until_ready(first);
    wait_until_ready(second);

    HttpClient stuck(first.port());
    hold_session(stuck, "stuck");
    const auto before = lease_of(first, "stuck");
    REQUIRE(before.has_value());
    HttpClient waiter(second.port());
    waiter.send(session_request("/sse?events=2&hold=1", "stuck"));
    wait_for_waiters(second, "stuck", 1);

    const auto released = admin(second, http::verb::delete_, "/leases/stuck?reason=engine+wedged");
    REQUIRE(released.result() == http::status::ok);
    const auto json = json_of(released);
    CHECK(json["released"].GetBool());
    CHECK(shown(json["lease"]).instance == "baton-a");
    CHECK(shown(json["lease"]).fence == before->fence);

    // The waiter is served at once, long before its wait of 10 s would end.
    CHECK(waiter.read_response_head().result() == http::status::ok);
    REQUIRE(waiter.read_event().has_value());
    const auto after = lease_of(first, "stuck");
    REQUIRE(after.has_value());
    CHECK(after->instance == "baton-b");
    CHECK(after->fence > before->fence);

    const std::string log = second.log();
    CHECK(log.find("audit: alice from 127.0.0.1:") != std::string::npos);
    CHECK(log.find("force-released the lease on session stuck (holder baton-a") != std::string::npos);
    CHECK(log.find("fence " + std::to_string(before->fence)) != std::string::npos);
    CHECK(log.find("reason: engine wedged") != std::string::npos);
    const auto metrics = parse_prometheus_text(admin_get(second, "/metrics").body());
    CHECK(metrics.value("baton_lease_forced_releases_total") >= 1);

    // The stream that held it runs to its end; its own release later ends nothing.
    engine.release_hold();
    finish_stream(stuck);
    finish_stream(waiter);
    CHECK(wait_until(5s, [&] { return !lease_of(first, "stuck").has_value(); }));
  }

  TEST_CASE("tokens: 401 without, 403 with a wrong one, 405 for GET /drain, 404 elsewhere; healthz and metrics") {
    TestEngine engine;
    ProxySettings settings{.upstream_port = engine.port()};
    settings.admin_extra = admin_tokens;
    BatonProxy proxy(settings);

    // One keep-alive connection for all of it.
    HttpClient client(proxy.admin_port());
    const auto health = client.request(make_admin_request(http::verb::get, "/healthz"));
    CHECK(health.result() == http::status::ok);
    CHECK(health.body() == R"({"status":"ok"})");
    CHECK(health.keep_alive());

    const auto anonymous = client.request(make_admin_request(http::verb::post, "/drain"));
    CHECK(anonymous.result() == http::status::unauthorized);
    CHECK(anonymous[http::field::www_authenticate].starts_with("Bearer"));
    CHECK(text_at(json_of(anonymous), "error") == "unauthorized");
    CHECK(!text_at(json_of(anonymous), "request_id").empty());

    auto wrong = make_admin_request(http::verb::delete_, "/leases/some-session");
    wrong.set(http::field::authorization, "Bearer not-the-token");
    const auto refused = client.request(wrong);
    CHECK(refused.result() == http::status::forbidden);
    CHECK(text_at(json_of(refused), "error") == "forbidden");

    const auto get_drain = client.request(make_admin_request(http::verb::get, "/drain"));
    CHECK(get_drain.result() == http::status::method_not_allowed);
    CHECK(get_drain[http::field::allow] == "POST");
    CHECK(text_at(json_of(get_drain), "error") == "method_not_allowed");

    const auto missing = client.request(make_admin_request(http::verb::get, "/nothing-here"));
    CHECK(missing.result() == http::status::not_found);
    CHECK(text_at(json_of(missing), "error") == "not_found");

    const auto metrics = client.request(make_admin_request(http::verb::get, "/metrics"));
    CHECK(metrics.result() == http::status::ok);
    CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4");
    CHECK_NOTHROW(parse_prometheus_text(metrics.body()));

    CHECK(proxy.process().running());  // nothing of this drained it
    CHECK(proxy.log().find("refused: wrong bearer token") != std::string::npos);
  }

  TEST_CASE("SIGHUP replaces the tokens") {
    TestEngine engine;
    ProxySettings settings{.upstream_port = engine.port()};
    settings.admin_extra = admin_tokens;
    BatonProxy proxy(settings);
    const auto forced_with = [&](std::string_view bearer) {
      return admin(proxy, http::verb::delete_, "/leases/nobody", bearer).result();
    };
    CHECK(forced_with(token) == http::status::not_found);  // authorized; the session is free

    settings.admin_extra = "  tokens:\n"
                           "    - { name: bob, token: n3w-secret }\n";
    write_file(proxy.dir() / "baton.yaml", proxy_config(settings, proxy.port(), proxy.admin_port()));
    proxy.process().signal(SIGHUP);
    CHECK(wait_until(5s, [&] { return forced_with("n3w-secret") == http::status::not_found; }));
    CHECK(forced_with(token) == http::status::forbidden);
  }

  TEST_CASE("readyz: 200, then 503 naming redis once Redis is stopped, 200 when it is back") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased(engine.port(), redis, "baton-a"));
    wait_until_ready(proxy);
    const auto ready = json_of(admin_get(proxy, "/readyz"));
    CHECK(text_at(ready, "status") == "ready");
    CHECK(text_at(ready["checks"], "redis") == "ok");
    CHECK(text_at(ready["checks"], "engine") == "ok");

    redis.stop();
    REQUIRE(wait_until(10s, [&] { return readiness(proxy) == http::status::service_unavailable; }));
    const auto not_ready = json_of(admin_get(proxy, "/readyz"));
    CHECK(text_at(not_ready, "status") == "not_ready");
    CHECK(text_at(not_ready, "message").find("redis") != std::string::npos);
    CHECK(text_at(not_ready["checks"], "redis") != "ok");
    CHECK(text_at(not_ready["checks"], "engine") == "ok");
    // Lease listings say the store is down rather than "nothing is held".
    CHECK(admin_get(proxy, "/leases").result() == http::status::service_unavailable);

    redis.start();
    CHECK(wait_until(10s, [&] { return readiness(proxy) == http::status::ok; }));
  }

  TEST_CASE("readyz with on_backend_down: fail_open stays 200 without Redis and reports it") {
    RedisServer redis;
    TestEngine engine;
    auto settings = leased(engine.port(), redis, "baton-a");
    settings.lease_extra = "  on_backend_down: fail_open\n";
    BatonProxy proxy(settings);
    wait_until_ready(proxy);

    redis.stop();
    REQUIRE(wait_until(10s, [&] {
      return text_at(json_of(admin_get(proxy, "/readyz"))["checks"], "redis") != "ok";
    }));
    const auto response = admin_get(proxy, "/readyz");
    CHECK(response.result() == http::status::ok);
    CHECK(text_at(json_of(response), "status") == "ready");
  }

  TEST_CASE("readyz: 503 naming the engine while it does not accept connections") {
    // A plain listener as the engine, opened only after baton-proxy has started: a child
    // process inherits the test's sockets, and would keep an engine's port accepting.
    const std::uint16_t engine_port = free_port();
    BatonProxy proxy({.upstream_port = engine_port});
    const auto response = admin_get(proxy, "/readyz");
    CHECK(response.result() == http::status::service_unavailable);
    const auto json = json_of(response);
    CHECK(text_at(json, "error") == "not_ready");
    CHECK(text_at(json["checks"], "engine").find("no connection to 127.0.0.1:") != std::string::npos);
    CHECK(text_at(json, "message").starts_with("engine: "));
    CHECK_FALSE(json["checks"].HasMember("redis"));  // the memory backend needs none

    net::io_context io;
    std::optional<tcp::acceptor> engine(std::in_place, io, tcp::endpoint(net::ip::make_address("127.0.0.1"), engine_port));
    CHECK(readiness(proxy) == http::status::ok);
    engine.reset();
    CHECK(readiness(proxy) == http::status::service_unavailable);
  }

  TEST_CASE("POST /drain drains like SIGTERM; the admin answers 503 on readyz meanwhile") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy proxy(leased(engine.port(), redis, "baton-a"));
    wait_until_ready(proxy);
    HttpClient stream(proxy.port());
    hold_session(stream, "draining");

    const auto drain = admin(proxy, http::verb::post, "/drain?reason=rollout");
    CHECK(drain.result() == http::status::accepted);
    CHECK(wait_until(5s, [&] { return !port_accepts(proxy.port()); }));
    CHECK(readiness(proxy) == http::status::service_unavailable);
    CHECK(text_at(json_of(admin_get(proxy, "/readyz")), "status") == "draining");
    CHECK(admin_get(proxy, "/healthz").result() == http::status::ok);

    engine.release_hold();
    finish_stream(stream);
    const auto status = proxy.process().wait_for_exit(10s);
    REQUIRE(status.has_value());
    CHECK(status->exited_with(0));
    CHECK(proxy.log().find("audit: alice from 127.0.0.1:") != std::string::npos);
  }

  TEST_CASE("a non-loopback admin.listen without a token refuses to start; with one, every request needs it") {
    TestEngine engine;
    const ProxySettings settings{.upstream_port = engine.port()};
    {
      TempDir dir;
      auto process = start_proxy(dir, config_with_admin_host(settings, free_port(), "0.0.0.0"));
      const auto status = process->wait_for_exit(10s);
      REQUIRE(status.has_value());
      CHECK_FALSE(status->exited_with(0));
      CHECK(process->log().find("admin.listen") != std::string::npos);
    }
    {
      ProxySettings with_token = settings;
      with_token.admin_extra = admin_tokens;
      const std::uint16_t admin_port = free_port();
      TempDir dir;
      auto process = start_proxy(dir, config_with_admin_host(with_token, admin_port, "0.0.0.0"));
      REQUIRE(wait_for_port(admin_port, 10s));
      HttpClient client(admin_port);
      CHECK(client.request(make_admin_request(http::verb::get, "/healthz")).result() == http::status::unauthorized);
      auto request = make_admin_request(http::verb::get, "/healthz");
      request.set(http::field::authorization, "Bearer " + std::string(token));
      CHECK(client.request(request).result() == http::status::ok);
    }
  }

  TEST_CASE("GET /leases from a browser (Accept: text/html) is the live page, with its security headers") {
    TestEngine engine;
    BatonProxy proxy({.upstream_port = engine.port()});
    auto request = make_admin_request(http::verb::get, "/leases");
    request.set(http::field::accept, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    HttpClient client(proxy.admin_port());
    const auto page = client.request(std::move(request));
    CHECK(page.result() == http::status::ok);
    CHECK(page[http::field::content_type] == "text/html; charset=utf-8");
    CHECK(page[http::field::cache_control] == "no-store");
    CHECK(page["X-Content-Type-Options"] == "nosniff");
    CHECK(page[http::field::x_frame_options] == "DENY");
    const std::string policy(page["Content-Security-Policy"]);
    CHECK(policy.starts_with("default-src 'none'; script-src 'sha256-"));
    CHECK(policy.find("connect-src 'self'") != std::string::npos);
    CHECK(policy.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(policy.find("unsafe-inline") == std::string::npos);
    CHECK(page.body().starts_with("<!doctype html>"));
    CHECK(page.body().find("<table id=\"leases\">") != std::string::npos);
    // The same URL without text/html is still the JSON list.
    CHECK(json_of(admin_get(proxy, "/leases"))["leases"].IsArray());
  }

  TEST_CASE("the lease stream: a snapshot first, a new one when another baton takes a lease and when it ends") {
    RedisServer redis;
    TestEngine engine;
    BatonProxy first(leased(engine.port(), redis, "baton-a"));
    BatonProxy second(leased(engine.port(), redis, "baton-b"));
    wait_until_ready(first);
    wait_until_ready(second);

    auto stream = open_lease_stream(first);
    const auto head = stream->read_response_head();
    REQUIRE(head.result() == http::status::ok);
    CHECK(head[http::field::content_type] == "text/event-stream");
    CHECK(head[http::field::cache_control] == "no-store");
    CHECK(next_snapshot(*stream).empty());

    HttpClient held(second.port());
    hold_session(held, "streamed");
    std::map<std::string, std::string> snapshot = next_snapshot(*stream);
    CHECK(snapshot.size() == 1);
    CHECK(snapshot["streamed"] == "baton-b");

    engine.release_hold();
    finish_stream(held);
    CHECK(next_snapshot(*stream).empty());
  }

  TEST_CASE("at most 16 lease streams at once: the 17th gets 503; a stream whose client left frees its slot") {
    TestEngine engine;
    BatonProxy proxy({.upstream_port = engine.port()});
    std::vector<std::unique_ptr<HttpClient>> streams;
    for (int i = 0; i < 16; ++i) {
      streams.push_back(open_lease_stream(proxy));
      REQUIRE(streams.back()->read_response_head().result() == http::status::ok);
    }
    auto refused = open_lease_stream(proxy)->read_response();
    CHECK(refused.result() == http::status::service_unavailable);
    CHECK(text_at(json_of(refused), "error") == "too_many_streams");
    CHECK(refused[http::field::retry_after] == "5");

    streams.pop_back();  // the client hangs up
    const bool slot_back = wait_until(5s, [&] {
      auto again = open_lease_stream(proxy);
      const auto head = again->read_response_head();
      if (head.result() != http::status::ok) return false;
      streams.push_back(std::move(again));
      return true;
    });
    CHECK(slot_back);
    // The others still stream.
    CHECK(next_snapshot(*streams.front()).empty());
  }

  TEST_CASE("lease streams end when baton-proxy stops, and do not hold up its exit") {
    TestEngine engine;
    BatonProxy proxy({.upstream_port = engine.port()});
    auto stream = open_lease_stream(proxy);
    REQUIRE(stream->read_response_head().result() == http::status::ok);
    CHECK(next_snapshot(*stream).empty());

    proxy.process().signal(SIGTERM);
    CHECK_FALSE(stream->read_event().has_value());  // the last chunk: a clean end
    const auto status = proxy.process().wait_for_exit(5s);
    REQUIRE(status.has_value());
    CHECK(status->exited_with(0));
  }

  TEST_CASE("an admin port in use fails the start, naming admin.listen") {
    TestEngine engine;
    net::io_context io;
    tcp::acceptor taken(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    TempDir dir;
    auto process = start_proxy(dir, proxy_config({.upstream_port = engine.port()}, free_port(),
                                                 taken.local_endpoint().port()));
    const auto status = process->wait_for_exit(10s);
    REQUIRE(status.has_value());
    CHECK_FALSE(status->exited_with(0));
    CHECK(process->log().find("admin.listen") != std::string::npos);
  }
}

}  // namespace baton::test
