// The access log of a real baton-proxy: one JSON line per request on its stdout, with
// the fields README.md "Access log" documents, in front of the test engine.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

using Line = std::shared_ptr<rapidjson::Document>;

const char* const documented_fields[] = {
    "ts",     "instance_id", "request_id", "route",     "method",      "path",        "session",
    "status", "lease",       "wait_ms",    "fence",     "migrated",    "lease_end",   "upstream_ms",
    "duration_ms", "bytes_in", "bytes_out", "sse_events"};

// /sse needs the session's lease and ends it at "done"; everything else passes through.
std::string leased_routes(std::string_view extra = {}) {
  return std::string(extra) +
         "session: { sources: [ { header: X-Session-Id } ] }\n"
         "routes:\n"
         "  - name: stream\n"
         "    match: { prefix: /sse }\n"
         "    lease: required\n"
         "    sse_done: { event: done }\n"
         "  - name: rest\n"
         "    match: { prefix: / }\n"
         "    lease: none\n";
}

ProxySettings settings_for(const TestEngine& engine, std::string instance_id) {
  ProxySettings settings{.upstream_port = engine.port()};
  settings.extra_yaml = leased_routes("instance_id: " + instance_id + "\n");
  return settings;
}

// The access log lines of the process's output so far: JSON objects with a lease_end
// (the process's own log goes to stderr, in the same file).
std::vector<Line> access_lines(const BatonProxy& proxy) {
  std::vector<Line> lines;
  std::istringstream log(proxy.log());
  for (std::string text; std::getline(log, text);) {
    if (text.empty() || text.front() != '{') continue;
    auto document = std::make_shared<rapidjson::Document>();
    document->Parse(text.data(), text.size());
    INFO("line: ", text);
    REQUIRE_FALSE(document->HasParseError());
    REQUIRE(document->IsObject());
    if (document->HasMember("lease_end")) lines.push_back(std::move(document));
  }
  return lines;
}

// Waits for the access log to hold `count` lines: a line is written once the answer is
// out, a moment after the client has read it.
std::vector<Line> wait_for_lines(const BatonProxy& proxy, std::size_t count) {
  std::vector<Line> lines;
  wait_until(5s, [&] {
    lines = access_lines(proxy);
    return lines.size() >= count;
  });
  REQUIRE(lines.size() == count);
  return lines;
}

std::string text(const rapidjson::Value& line, const char* name) {
  const auto& value = line[name];
  return value.IsString() ? std::string(value.GetString(), value.GetStringLength()) : "<not a string>";
}

void check_documented_fields(const rapidjson::Value& line) {
  CHECK(line.MemberCount() == std::size(documented_fields));
  for (const char* name : documented_fields) {
    INFO("field ", name);
    CHECK(line.HasMember(name));
  }
  for (const char* name : {"ts", "instance_id", "request_id", "lease", "lease_end"}) CHECK(line[name].IsString());
  for (const char* name : {"status", "wait_ms", "duration_ms", "bytes_in", "bytes_out", "sse_events"})
    CHECK(line[name].IsNumber());
  for (const char* name : {"route", "method", "path", "session"}) CHECK((line[name].IsString() || line[name].IsNull()));
  for (const char* name : {"fence", "upstream_ms"}) CHECK((line[name].IsNumber() || line[name].IsNull()));
  CHECK(line["migrated"].IsBool());
}

Request with_session(Request request, std::string_view session) {
  request.set("X-Session-Id", session);
  return request;
}

}  // namespace

TEST_SUITE("access log") {
  TEST_CASE("one JSON line per request, and X-Request-Id ties the client, the log and the engine") {
    TestEngine engine;
    BatonProxy proxy(settings_for(engine, "web-a"));
    HttpClient client(proxy.port());

    auto stream = with_session(make_request(http::verb::get, "/sse?events=2"), "cart-42");
    stream.set("X-Request-Id", "client-chose-this-id");
    const auto streamed = client.request(stream);
    REQUIRE(streamed.result() == http::status::ok);
    CHECK(streamed["X-Request-Id"] == "client-chose-this-id");
    CHECK(engine.last_request().value("X-Request-Id") == "client-chose-this-id");

    const auto plain = client.request(make_request(http::verb::post, "/echo?q=secret", "0123456789"));
    REQUIRE(plain.result() == http::status::ok);
    const std::string generated_id(plain["X-Request-Id"]);
    CHECK(generated_id.size() == 32);
    CHECK(engine.last_request().value("X-Request-Id") == generated_id);

    const auto lines = wait_for_lines(proxy, 2);
    const auto& leased = *lines[0];
    check_documented_fields(leased);
    CHECK(text(leased, "request_id") == "client-chose-this-id");
    CHECK(text(leased, "instance_id") == "web-a");
    CHECK(text(leased, "route") == "stream");
    CHECK(text(leased, "method") == "GET");
    CHECK(text(leased, "path") == "/sse");
    CHECK(text(leased, "session") == "cart-42");
    CHECK(leased["status"].GetUint() == 200);
    CHECK(text(leased, "lease") == "acquired");
    CHECK(leased["fence"].IsUint64());
    CHECK(text(leased, "lease_end") == "done");
    CHECK(leased["sse_events"].GetUint64() == 3);  // two tokens and done
    CHECK(leased["upstream_ms"].IsNumber());
    CHECK(leased["duration_ms"].GetDouble() >= leased["upstream_ms"].GetDouble());
    CHECK(leased["bytes_out"].GetUint64() == streamed.body().size());
    CHECK(text(leased, "ts").size() == 24);  // 2024-05-01T12:34:56.789Z

    const auto& passed = *lines[1];
    check_documented_fields(passed);
    CHECK(text(passed, "request_id") == generated_id);
    CHECK(text(passed, "route") == "rest");
    CHECK(text(passed, "method") == "POST");
    CHECK(text(passed, "path") == "/echo");  // never the query
    CHECK(passed["session"].IsNull());
    CHECK(text(passed, "lease") == "bypassed");
    CHECK(text(passed, "lease_end") == "none");
    CHECK(passed["fence"].IsNull());
    CHECK(passed["bytes_in"].GetUint64() == 10);
    CHECK(passed["bytes_out"].GetUint64() == plain.body().size());
    CHECK(passed["sse_events"].GetUint64() == 0);
  }

  TEST_CASE("a busy session's request is logged with lease busy, 409 and its wait") {
    TestEngine engine;
    auto settings = settings_for(engine, "web-a");
    settings.lease_wait_timeout = "200ms";
    BatonProxy proxy(settings);

    HttpClient holder(proxy.port());
    holder.send(with_session(make_request(http::verb::get, "/sse?events=2&hold=1"), "busy-1"));
    REQUIRE(holder.read_response_head().result() == http::status::ok);
    REQUIRE(holder.read_event().has_value());

    HttpClient second(proxy.port());
    auto refused_request = with_session(make_request(http::verb::get, "/sse?events=1"), "busy-1");
    refused_request.set("X-Request-Id", "the-second-one");
    const auto refused = second.request(refused_request);
    CHECK(refused.result() == http::status::conflict);

    const auto busy_lines = wait_for_lines(proxy, 1);
    const auto& busy = *busy_lines[0];
    check_documented_fields(busy);
    CHECK(text(busy, "request_id") == "the-second-one");
    CHECK(busy["status"].GetUint() == 409);
    CHECK(text(busy, "lease") == "busy");
    CHECK(text(busy, "lease_end") == "none");
    CHECK(text(busy, "session") == "busy-1");
    CHECK(busy["wait_ms"].GetDouble() >= 150);
    CHECK(busy["upstream_ms"].IsNull());  // it never reached the engine
    CHECK(busy["bytes_out"].GetUint64() == refused.body().size());

    engine.release_hold();
    while (holder.read_event()) {
    }
    const auto lines = wait_for_lines(proxy, 2);
    CHECK(text(*lines[1], "lease") == "acquired");
    CHECK(text(*lines[1], "lease_end") == "done");
  }

  TEST_CASE("a request without the session id a leased route needs is logged with lease none") {
    TestEngine engine;
    BatonProxy proxy(settings_for(engine, "web-a"));
    HttpClient client(proxy.port());
    CHECK(client.request(make_request(http::verb::get, "/sse?events=1")).result() == http::status::bad_request);
    const auto lines = wait_for_lines(proxy, 1);
    CHECK((*lines[0])["status"].GetUint() == 400);
    CHECK(text(*lines[0], "lease") == "none");
    CHECK(text(*lines[0], "route") == "stream");
  }

  TEST_CASE("with session_ids: hash the line names the session by a hash, never by its id") {
    TestEngine engine;
    auto settings = settings_for(engine, "web-a");
    settings.logging_extra = "  session_ids: hash\n  session_hash_key: test-key\n";
    BatonProxy proxy(settings);
    const std::string session = "very-secret-session-7";
    for (int i = 0; i < 2; ++i) {
      HttpClient client(proxy.port());
      REQUIRE(client.request(with_session(make_request(http::verb::get, "/sse?events=1"), session)).result() ==
              http::status::ok);
    }
    const auto lines = wait_for_lines(proxy, 2);
    const std::string hashed = text(*lines[0], "session");
    CHECK(hashed.size() == 16);
    CHECK(hashed.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(text(*lines[1], "session") == hashed);  // one session, one name
    CHECK(proxy.log().find(session) == std::string::npos);
  }

  TEST_CASE("access_log: false writes no line") {
    TestEngine engine;
    auto settings = settings_for(engine, "web-a");
    settings.logging_extra = "  access_log: false\n";
    BatonProxy proxy(settings);
    HttpClient client(proxy.port());
    CHECK(client.request(make_request(http::verb::get, "/echo")).result() == http::status::ok);
    CHECK(client.request(make_request(http::verb::get, "/echo")).result() == http::status::ok);
    std::this_thread::sleep_for(200ms);
    CHECK(access_lines(proxy).empty());
  }

  TEST_CASE("with Redis, a session taken over from another baton is logged as migrated") {
    RedisServer redis;
    TestEngine engine;
    const std::string redis_section = "redis: { url: " + redis.url() + ", key_prefix: baton }\n";
    auto first_settings = settings_for(engine, "web-a");
    first_settings.lease_backend = "redis";
    first_settings.extra_yaml = leased_routes("instance_id: web-a\n" + redis_section);
    auto second_settings = first_settings;
    second_settings.extra_yaml = leased_routes("instance_id: web-b\n" + redis_section);
    BatonProxy first(first_settings);
    BatonProxy second(second_settings);

    for (auto* proxy : {&first, &second}) {
      HttpClient client(proxy->port());
      REQUIRE(client.request(with_session(make_request(http::verb::get, "/sse?events=1"), "moving")).result() ==
              http::status::ok);
    }
    const auto on_first = wait_for_lines(first, 1);
    const auto on_second = wait_for_lines(second, 1);
    check_documented_fields(*on_second[0]);
    CHECK_FALSE((*on_first[0])["migrated"].GetBool());
    CHECK((*on_second[0])["migrated"].GetBool());
    CHECK(text(*on_second[0], "instance_id") == "web-b");
    // The first baton's release goes out after its answer: the second may wait for it.
    const std::string decision = text(*on_second[0], "lease");
    CHECK((decision == "acquired" || decision == "waited"));
    CHECK(text(*on_second[0], "lease_end") == "done");
    CHECK((*on_second[0])["fence"].GetUint64() > (*on_first[0])["fence"].GetUint64());
    CHECK(engine.last_request().value("Baton-Session-Migrated") == "?1");
  }
}

}  // namespace baton::test
