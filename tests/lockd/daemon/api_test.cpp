// baton-lockd's pure parts: request targets, routing decisions, JSON replies, metrics text.
#include "http_api.hpp"

#include "api_replies.hpp"
#include "daemon_metrics.hpp"
#include "request_target.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <regex>
#include <sstream>
#include <string>

namespace baton::lockd {
namespace {

using namespace std::chrono_literals;

ApiSettings settings() {
  ApiSettings s;
  s.default_ttl = 30s;
  s.default_wait = 10s;
  s.max_ttl = 10min;
  s.max_wait = 1min;
  s.max_waiters = 7;
  return s;
}

Decision decide_post(std::string_view target) { return decide(http::verb::post, target, settings()); }

rapidjson::Document json_of(const Reply& reply) {
  rapidjson::Document document;
  document.Parse(reply.body.data(), reply.body.size());
  REQUIRE_MESSAGE(!document.HasParseError(), "not JSON: " << reply.body);
  REQUIRE(document.IsObject());
  return document;
}

std::string string_at(const rapidjson::Value& object, const char* name) {
  REQUIRE_MESSAGE(object.HasMember(name), "no member " << std::string(name));
  REQUIRE_MESSAGE(object[name].IsString(), std::string(name) << " is not a string");
  return object[name].GetString();
}

// The reply of a decision that does not reach the store.
Reply reply_of(const Decision& decision) {
  const auto* reply = std::get_if<Reply>(&decision);
  REQUIRE_MESSAGE(reply != nullptr, "expected a reply, got a store call (variant index " << decision.index() << ")");
  return *reply;
}

// The same for errors, whose bodies all carry "error" and "message".
Reply rejected(const Decision& decision) {
  const Reply reply = reply_of(decision);
  const auto json = json_of(reply);
  CHECK(string_at(json, "error") == reply.code);
  CHECK(!string_at(json, "message").empty());
  return reply;
}

void check_bad_request(const Decision& decision, std::string_view code, std::string_view message_part = {}) {
  const Reply reply = rejected(decision);
  CHECK(reply.status == http::status::bad_request);
  CHECK(reply.code == code);
  const std::string message = string_at(json_of(reply), "message");
  CHECK_MESSAGE(message.find(message_part) != std::string::npos, "message: " << message);
}

template <class Call>
Call call_of(const Decision& decision) {
  if (const auto* reply = std::get_if<Reply>(&decision)) FAIL("expected a store call, got " << reply->body);
  REQUIRE(std::holds_alternative<Call>(decision));
  return std::get<Call>(decision);
}

lease::AcquireResult acquired(std::string previous_instance) {
  lease::AcquireResult result;
  result.status = lease::AcquireStatus::acquired;
  result.lease.session = "order-1";
  result.lease.token = "t0k3n";
  result.lease.fence = 1'700'000'000'000'001ULL;
  result.lease.ttl = 30s;
  result.lease.previous_instance = std::move(previous_instance);
  result.waited = 12ms;
  return result;
}

}  // namespace

TEST_SUITE("lockd api") {
  TEST_CASE("request targets split into decoded path segments and query parameters") {
    auto parsed = parse_request_target("/v1/leases/a%3Ab%2Fc?ttl=30s&instance=cron%40db&&flag&token=a+b");
    REQUIRE(std::holds_alternative<RequestTarget>(parsed));
    const auto& target = std::get<RequestTarget>(parsed);
    CHECK(target.segments == std::vector<std::string>{"v1", "leases", "a:b/c"});
    REQUIRE(target.query.size() == 4);
    CHECK(target.query[0].name == "ttl");
    CHECK(target.query[0].value == "30s");
    CHECK(target.query[1].value == "cron@db");
    CHECK(target.query[2].name == "flag");
    CHECK(target.query[2].value.empty());
    CHECK(target.query[3].value == "a+b");  // '+' is not a space: tokens may hold it

    CHECK(std::get<RequestTarget>(parse_request_target("/v1/leases/")).segments ==
          std::vector<std::string>{"v1", "leases", ""});
    CHECK(std::get<RequestTarget>(parse_request_target("/")).segments == std::vector<std::string>{""});
    for (const auto* bad : {"v1/leases", "*", "http://host/v1/leases", "/v1/leases/%zz", "/a%4", "/a?x=%"}) {
      INFO("target: " << bad);
      CHECK(std::holds_alternative<TargetError>(parse_request_target(bad)));
    }
  }

  TEST_CASE("acquire takes ttl, wait, instance and request_id from the query") {
    const auto call = call_of<AcquireCall>(
        decide_post("/v1/leases/order-42?ttl=45s&wait=2s500ms&instance=billing-cron&request_id=run-7"));
    CHECK(call.request.session == "order-42");
    CHECK(call.request.ttl == 45s);
    CHECK(call.request.wait == 2500ms);
    CHECK(call.request.instance == "billing-cron");
    CHECK(call.request.request_id == "run-7");
    CHECK(call.request.route == lease_route);
    CHECK(call.request.max_waiters == 7);
  }

  TEST_CASE("acquire defaults come from the configuration") {
    const auto call = call_of<AcquireCall>(decide_post("/v1/leases/k"));
    CHECK(call.request.ttl == 30s);
    CHECK(call.request.wait == 10s);
    CHECK(call.request.instance == default_caller_instance);
    CHECK(call.request.request_id.empty());
    CHECK(call_of<AcquireCall>(decide_post("/v1/leases/k?wait=0s")).request.wait == 0ms);
  }

  TEST_CASE("keys are validated before any store call") {
    const std::string too_long(129, 'k');
    const std::vector<std::string> bad_keys{"", too_long, "a%20b", "%7Bx%7D", "{x}", "*", "a%0Ab", "a%00", "%C3%A9"};
    for (const std::string& key : bad_keys) {
      INFO("key: '" << key << "'");
      check_bad_request(decide_post("/v1/leases/" + key), "bad_key");
      check_bad_request(decide(http::verb::get, "/v1/leases/" + key, settings()), "bad_key");
      check_bad_request(decide(http::verb::delete_, "/v1/leases/" + key + "?token=t", settings()), "bad_key");
      check_bad_request(decide_post("/v1/leases/" + key + "/renew?token=t"), "bad_key");
    }
    CHECK(call_of<AcquireCall>(decide_post("/v1/leases/" + std::string(128, 'k'))).request.session.size() == 128);
  }

  TEST_CASE("bad or out-of-bounds durations are 400s naming the parameter") {
    check_bad_request(decide_post("/v1/leases/k?ttl=30"), "bad_ttl", "ttl");
    check_bad_request(decide_post("/v1/leases/k?ttl=soon"), "bad_ttl", "ttl");
    check_bad_request(decide_post("/v1/leases/k?ttl="), "bad_ttl", "ttl");
    check_bad_request(decide_post("/v1/leases/k?ttl=50ms"), "bad_ttl", "at least 100ms");
    check_bad_request(decide_post("/v1/leases/k?ttl=11m"), "bad_ttl", "limits.max_ttl");
    check_bad_request(decide_post("/v1/leases/k?wait=5"), "bad_wait", "wait");
    check_bad_request(decide_post("/v1/leases/k?wait=2m"), "bad_wait", "limits.max_wait");
    check_bad_request(decide_post("/v1/leases/k/renew?token=t&ttl=1h"), "bad_ttl", "limits.max_ttl");
    CHECK(call_of<AcquireCall>(decide_post("/v1/leases/k?ttl=10m&wait=1m")).request.ttl == 10min);
  }

  TEST_CASE("unknown, repeated and malformed parameters are 400s") {
    check_bad_request(decide_post("/v1/leases/k?tll=30s"), "unknown_parameter", "tll");
    check_bad_request(decide_post("/v1/leases/k?ttl=1s&ttl=2s"), "duplicate_parameter", "ttl");
    check_bad_request(decide_post("/v1/leases/k?instance=a%20b"), "bad_instance", "instance");
    check_bad_request(decide_post("/v1/leases/k?instance=" + std::string(129, 'i')), "bad_instance");
    check_bad_request(decide_post("/v1/leases/k?request_id="), "bad_request_id");
    check_bad_request(decide(http::verb::get, "/v1/leases/k?verbose=1", settings()), "unknown_parameter");
    check_bad_request(decide_post("/v1/leases/k?ttl=%zz"), "bad_target");

    // What the client sent is quoted printable, so the body stays valid UTF-8 JSON.
    for (const auto* target : {"/v1/leases/k?%FF%01name=1", "/v1/leases/k?ttl=%C3%28s"}) {
      INFO("target: " << target);
      const Reply reply = rejected(decide_post(target));
      CHECK(std::all_of(reply.body.begin(), reply.body.end(), [](char c) { return c >= ' ' && c < 0x7f; }));
    }
  }

  TEST_CASE("renew and release need the lease's token") {
    const auto renew = call_of<RenewCall>(decide_post("/v1/leases/k/renew?token=abc&ttl=1m"));
    CHECK(renew.lease.session == "k");
    CHECK(renew.lease.token == "abc");
    CHECK(renew.ttl == 1min);
    CHECK(call_of<RenewCall>(decide_post("/v1/leases/k/renew?token=abc")).ttl == 30s);

    const auto release = call_of<ReleaseCall>(decide(http::verb::delete_, "/v1/leases/k?token=abc", settings()));
    CHECK(release.lease.session == "k");
    CHECK(release.lease.token == "abc");

    check_bad_request(decide_post("/v1/leases/k/renew"), "missing_token", "token");
    check_bad_request(decide(http::verb::delete_, "/v1/leases/k", settings()), "missing_token");
    check_bad_request(decide(http::verb::delete_, "/v1/leases/k?token=", settings()), "bad_token");
    check_bad_request(decide(http::verb::delete_, "/v1/leases/k?token=a%0Ab", settings()), "bad_token");
  }

  TEST_CASE("inspect, list, health and metrics") {
    CHECK(call_of<InspectCall>(decide(http::verb::get, "/v1/leases/k", settings())).key == "k");

    const auto first = call_of<ListCall>(decide(http::verb::get, "/v1/leases", settings()));
    CHECK(first.cursor.empty());
    CHECK(first.limit == default_list_limit);
    const auto next = call_of<ListCall>(decide(http::verb::get, "/v1/leases?cursor=17&limit=5", settings()));
    CHECK(next.cursor == "17");
    CHECK(next.limit == 5);
    CHECK(call_of<ListCall>(decide(http::verb::get, "/v1/leases?cursor=", settings())).cursor.empty());
    for (const auto* limit : {"0", "1001", "-1", "ten", ""}) {
      INFO("limit: " << limit);
      check_bad_request(decide(http::verb::get, std::string("/v1/leases?limit=") + limit, settings()), "bad_limit");
    }

    const Reply health = reply_of(decide(http::verb::get, "/healthz?probe=k8s", settings()));
    CHECK(health.status == http::status::ok);
    CHECK(string_at(json_of(health), "status") == "ok");
    CHECK(std::holds_alternative<MetricsCall>(decide(http::verb::get, "/metrics", settings())));
  }

  TEST_CASE("unknown routes are 404, wrong methods 405 with Allow") {
    for (const auto* target : {"/", "/v1", "/v2/leases/k", "/v1/leases/k/extend", "/v1/leases/k/renew/x",
                               "/v1/leases/a/b", "/healthz/", "/v1//leases"}) {
      INFO("target: " << target);
      const Reply reply = rejected(decide(http::verb::get, target, settings()));
      CHECK(reply.status == http::status::not_found);
      CHECK(reply.code == "not_found");
    }
    const auto allow_of = [](http::verb method, std::string_view target) {
      const Reply reply = rejected(decide(method, target, settings()));
      CHECK(reply.status == http::status::method_not_allowed);
      return std::string(reply.allow);
    };
    CHECK(allow_of(http::verb::put, "/v1/leases/k") == "GET, POST, DELETE");
    CHECK(allow_of(http::verb::put, "/v1/leases/{bad}") == "GET, POST, DELETE");  // method first
    CHECK(allow_of(http::verb::get, "/v1/leases/k/renew") == "POST");
    CHECK(allow_of(http::verb::post, "/v1/leases") == "GET");
    CHECK(allow_of(http::verb::delete_, "/healthz") == "GET");
    CHECK(allow_of(http::verb::post, "/metrics") == "GET");
  }
}

TEST_SUITE("lockd replies") {
  TEST_CASE("an acquired lease: token, fence, ttl and where the session was before") {
    const Reply fresh = acquire_reply(acquired(""), "order-1", "cron");
    CHECK(fresh.status == http::status::ok);
    auto json = json_of(fresh);
    CHECK(string_at(json, "token") == "t0k3n");
    CHECK(json["fence"].GetUint64() == 1'700'000'000'000'001ULL);
    CHECK(json["ttl_ms"].GetInt64() == 30000);
    CHECK(json["migrated"].GetBool() == false);
    CHECK(json["previous_instance"].IsNull());
    CHECK(json["waited_ms"].GetInt64() == 12);

    CHECK(json_of(acquire_reply(acquired("web-1"), "order-1", "cron"))["migrated"].GetBool() == true);
    CHECK(string_at(json_of(acquire_reply(acquired("web-1"), "order-1", "cron")), "previous_instance") == "web-1");
    CHECK(json_of(acquire_reply(acquired("cron"), "order-1", "cron"))["migrated"].GetBool() == false);
  }

  TEST_CASE("busy: 409 with the holder, position and Retry-After in whole seconds, rounded up") {
    lease::AcquireResult result;
    result.status = lease::AcquireStatus::busy;
    result.holder = {"web-2", "req-9", 1500ms};
    result.position = 2;
    const Reply reply = acquire_reply(result, "order-1", "cron");
    CHECK(reply.status == http::status::conflict);
    CHECK(reply.retry_after == 2s);
    auto json = json_of(reply);
    CHECK(string_at(json, "error") == "busy");
    CHECK(!string_at(json, "message").empty());
    CHECK(string_at(json["holder"], "instance") == "web-2");
    CHECK(string_at(json["holder"], "request_id") == "req-9");
    CHECK(json["retry_after_ms"].GetInt64() == 1500);
    CHECK(json["position"].GetUint64() == 2);

    CHECK(retry_after_seconds(0ms) == 1s);
    CHECK(retry_after_seconds(1000ms) == 1s);
    CHECK(retry_after_seconds(1001ms) == 2s);
    CHECK(retry_after_seconds(29'999ms) == 30s);
  }

  TEST_CASE("too many waiters is 429, backend down 503, both with Retry-After") {
    lease::AcquireResult crowded;
    crowded.status = lease::AcquireStatus::too_many_waiters;
    crowded.holder.remaining = 4200ms;
    const Reply too_many = acquire_reply(crowded, "k", "cron");
    CHECK(too_many.status == http::status::too_many_requests);
    CHECK(string_at(json_of(too_many), "error") == "too_many_waiters");
    CHECK(too_many.retry_after == 5s);

    lease::AcquireResult down;
    down.status = lease::AcquireStatus::backend_down;
    const Reply unavailable = acquire_reply(down, "k", "cron");
    CHECK(unavailable.status == http::status::service_unavailable);
    CHECK(string_at(json_of(unavailable), "error") == "backend_down");
    CHECK(unavailable.retry_after == backend_down_retry_after);
    CHECK(renew_reply(lease::RenewStatus::backend_down, "k", 30s).status == http::status::service_unavailable);
    CHECK(release_reply(lease::ReleaseStatus::backend_down, "k").status == http::status::service_unavailable);
  }

  TEST_CASE("renew, release, inspect and list bodies") {
    const Reply renewed = renew_reply(lease::RenewStatus::renewed, "k", 45s);
    CHECK(json_of(renewed)["renewed"].GetBool());
    CHECK(json_of(renewed)["ttl_ms"].GetInt64() == 45000);
    const Reply lost = renew_reply(lease::RenewStatus::lost, "k", 45s);
    CHECK(lost.status == http::status::conflict);
    CHECK(string_at(json_of(lost), "error") == "lost");

    CHECK(json_of(release_reply(lease::ReleaseStatus::released, "k"))["released"].GetBool() == true);
    CHECK(json_of(release_reply(lease::ReleaseStatus::not_held, "k"))["released"].GetBool() == false);
    CHECK(release_reply(lease::ReleaseStatus::not_held, "k").status == http::status::ok);

    const Reply missing = inspect_reply(std::nullopt, "k");
    CHECK(missing.status == http::status::not_found);
    CHECK(!string_at(json_of(missing), "message").empty());

    lease::LeaseInfo info{"k", "web-1", "req-1", "/chat", 99, 1200ms, 28800ms, 3};
    const auto held = json_of(inspect_reply(info, "k"));
    CHECK(string_at(held, "key") == "k");
    CHECK(string_at(held, "instance") == "web-1");
    CHECK(held["fence"].GetUint64() == 99);
    CHECK(held["age_ms"].GetInt64() == 1200);
    CHECK(held["remaining_ms"].GetInt64() == 28800);
    CHECK(held["waiters"].GetUint64() == 3);

    auto page = json_of(list_reply({{info, info}, "cursor-2"}));
    CHECK(page["leases"].Size() == 2);
    CHECK(string_at(page, "next_cursor") == "cursor-2");
    CHECK(json_of(list_reply({{}, ""}))["next_cursor"].IsNull());
  }

  TEST_CASE("HTTP messages carry no-store, Retry-After and Allow") {
    Reply reply = error_reply(http::status::conflict, "busy", "held");
    reply.retry_after = 3s;
    const auto response = to_response(reply, true);
    CHECK(response[http::field::cache_control] == "no-store");
    CHECK(response[http::field::content_type] == "application/json");
    CHECK(response[http::field::retry_after] == "3");
    CHECK(response.keep_alive());
    CHECK(to_response(method_not_allowed("POST"), false)[http::field::allow] == "POST");
    CHECK(!to_response(method_not_allowed("POST"), false).keep_alive());
  }

  TEST_CASE("error messages with quotes and control characters stay valid JSON") {
    json_of(error_reply(http::status::bad_request, "bad_x", "a \"quoted\"\n\\ message\x01"));
  }
}

TEST_SUITE("lockd metrics") {
  TEST_CASE("counters by result, in Prometheus text format 0.0.4") {
    DaemonMetrics metrics;
    metrics.count(lease::AcquireStatus::acquired);
    metrics.count(lease::AcquireStatus::acquired);
    metrics.count(lease::AcquireStatus::busy);
    metrics.count(lease::RenewStatus::lost);
    metrics.count(lease::ReleaseStatus::released);
    metrics.count_response(http::status::ok);
    metrics.count_response(http::status::conflict);
    const std::string text = metrics.prometheus_text();

    const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [0-9]+$)");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      INFO("line: " << line);
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
      CHECK(std::regex_match(line, sample));
    }
    CHECK(text.find("# TYPE baton_lockd_acquisitions_total counter\n") != std::string::npos);
    CHECK(text.find("baton_lockd_acquisitions_total{result=\"acquired\"} 2\n") != std::string::npos);
    CHECK(text.find("baton_lockd_acquisitions_total{result=\"busy\"} 1\n") != std::string::npos);
    CHECK(text.find("baton_lockd_acquisitions_total{result=\"backend_down\"} 0\n") != std::string::npos);
    CHECK(text.find("baton_lockd_renewals_total{result=\"lost\"} 1\n") != std::string::npos);
    CHECK(text.find("baton_lockd_releases_total{result=\"released\"} 1\n") != std::string::npos);
    CHECK(text.find("baton_lockd_http_responses_total{code=\"4xx\"} 1\n") != std::string::npos);
  }
}

}  // namespace baton::lockd
