#include "baton/proxy/proxy_metrics.hpp"

#include "support/prometheus_text.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace baton;
using namespace baton::proxy;
using namespace std::chrono_literals;
using baton::test::Labels;
using baton::test::parse_prometheus_text;
using baton::test::ParsedMetrics;

namespace {

core::Config config_with_routes(core::LeaseBackend backend = core::LeaseBackend::redis) {
  core::Config config;
  config.threads = 2;
  config.lease.backend = backend;
  for (const char* name : {"chat", "static"}) {
    core::RouteConfig route;
    route.name = name;
    route.match.prefix = std::string("/") + name;
    config.routes.push_back(route);
  }
  return config;
}

RequestRecord request(std::string_view route, unsigned status) {
  RequestRecord record;
  record.route = route;
  record.status = status;
  record.duration = 30ms;
  record.bytes_in = 10;
  record.bytes_out = 100;
  return record;
}

RequestRecord decided(std::string_view route, LeaseDecision decision, bool migrated = false) {
  RequestRecord record;
  record.route = route;
  record.lease = decision;
  record.migrated = migrated;
  record.wait = 2ms;
  return record;
}

// The bucket of a histogram whose `le` reads as `bound` (the registry may print 5e-04).
double bucket(const ParsedMetrics& metrics, std::string_view histogram, double bound, Labels labels = {}) {
  const std::string name = std::string(histogram) + "_bucket";
  for (const auto& sample : metrics.samples()) {
    if (sample.name != name) continue;
    auto le = sample.labels.find("le");
    if (le == sample.labels.end() || std::stod(le->second) != bound) continue;
    auto others = sample.labels;
    others.erase("le");
    if (others == labels) return sample.value;
  }
  FAIL("no bucket le=", bound, " in ", name);
  return -1;
}

ParsedMetrics scrape(const core::metrics::Registry& registry) {
  return parse_prometheus_text(registry.prometheus_text());
}

// Every label value that appears for `label` in the samples of `family`.
std::set<std::string> label_values(const ParsedMetrics& metrics, std::string_view family, const std::string& label) {
  std::set<std::string> values;
  for (const auto& sample : metrics.samples()) {
    if (sample.name.rfind(family, 0) != 0) continue;
    if (auto found = sample.labels.find(label); found != sample.labels.end()) values.insert(found->second);
  }
  return values;
}

}  // namespace

TEST_SUITE("proxy metrics") {
  TEST_CASE("every documented family is there, with its type, before anything happened") {
    core::metrics::Registry registry;
    const ProxyMetrics metrics(registry, config_with_routes());
    const auto parsed = scrape(registry);
    const std::pair<const char*, const char*> families[] = {
        {"baton_requests_total", "counter"},
        {"baton_request_duration_seconds", "histogram"},
        {"baton_lease_acquisitions_total", "counter"},
        {"baton_lease_wait_seconds", "histogram"},
        {"baton_leases_held", "gauge"},
        {"baton_lease_waiters", "gauge"},
        {"baton_lease_handoffs_total", "counter"},
        {"baton_leases_lost_total", "counter"},
        {"baton_lease_max_hold_total", "counter"},
        {"baton_lease_forced_releases_total", "counter"},
        {"baton_lease_late_releases_total", "counter"},
        {"baton_lease_renewals_total", "counter"},
        {"baton_redis_up", "gauge"},
        {"baton_redis_errors_total", "counter"},
        {"baton_redis_round_trip_seconds", "histogram"},
        {"baton_upstream_errors_total", "counter"},
        {"baton_sse_streams_active", "gauge"},
        {"baton_bytes_total", "counter"},
    };
    for (const auto& [name, type] : families) {
      INFO("family ", name);
      CHECK(parsed.type(name) == type);
      CHECK_FALSE(parsed.help(name).empty());
    }
    // Children exist at zero, so that rate() works from the first scrape.
    CHECK(parsed.value("baton_requests_total", {{"route", "chat"}, {"code_class", "5xx"}}) == 0);
    CHECK(parsed.value("baton_lease_acquisitions_total", {{"route", "static"}, {"result", "fail_open"}}) == 0);
    CHECK(parsed.value("baton_upstream_errors_total", {{"kind", "bad_response"}}) == 0);
    CHECK(parsed.value("baton_bytes_total", {{"direction", "in"}}) == 0);
    CHECK(label_values(parsed, "baton_requests_total", "route") ==
          std::set<std::string>{"chat", "static", "unmatched", "other"});
    CHECK(label_values(parsed, "baton_lease_acquisitions_total", "result") ==
          std::set<std::string>{"acquired", "waited", "busy", "too_many_waiters", "backend_down", "fail_open"});
  }

  TEST_CASE("requests count by route and status class, and durations and bytes add up") {
    core::metrics::Registry registry;
    ProxyMetrics metrics(registry, config_with_routes());
    metrics.request_done(request("chat", 200));
    metrics.request_done(request("chat", 204));
    metrics.request_done(request("chat", 503));
    metrics.request_done(request("static", 304));
    metrics.request_done(request("", 400));  // no route matched, or no head

    const auto parsed = scrape(registry);
    CHECK(parsed.value("baton_requests_total", {{"route", "chat"}, {"code_class", "2xx"}}) == 2);
    CHECK(parsed.value("baton_requests_total", {{"route", "chat"}, {"code_class", "5xx"}}) == 1);
    CHECK(parsed.value("baton_requests_total", {{"route", "static"}, {"code_class", "3xx"}}) == 1);
    CHECK(parsed.value("baton_requests_total", {{"route", "unmatched"}, {"code_class", "4xx"}}) == 1);
    CHECK(parsed.value("baton_request_duration_seconds_count", {{"route", "chat"}}) == 3);
    CHECK(parsed.value("baton_request_duration_seconds_sum", {{"route", "chat"}}) == doctest::Approx(0.09));
    CHECK(bucket(parsed, "baton_request_duration_seconds", 0.025, {{"route", "chat"}}) == 0);
    CHECK(bucket(parsed, "baton_request_duration_seconds", 0.05, {{"route", "chat"}}) == 3);
    CHECK(parsed.value("baton_bytes_total", {{"direction", "in"}}) == 50);
    CHECK(parsed.value("baton_bytes_total", {{"direction", "out"}}) == 500);
  }

  TEST_CASE("a route unknown at start, or any other label value, creates no new series") {
    core::metrics::Registry registry;
    ProxyMetrics metrics(registry, config_with_routes());
    const auto before = scrape(registry).samples().size();
    for (int i = 0; i < 50; ++i) {
      const std::string route = "/raw/path/" + std::to_string(i);
      metrics.request_done(request(route, 200 + i));
      metrics.lease_decided(decided(route, LeaseDecision::busy));
    }
    metrics.request_done(request("chat", 999));  // no class: counted nowhere, not a new label
    const auto parsed = scrape(registry);
    CHECK(parsed.samples().size() == before);
    CHECK(label_values(parsed, "baton_requests_total", "route") ==
          std::set<std::string>{"chat", "static", "unmatched", "other"});
    CHECK(label_values(parsed, "baton_requests_total", "code_class") ==
          std::set<std::string>{"1xx", "2xx", "3xx", "4xx", "5xx"});
    CHECK(parsed.value("baton_requests_total", {{"route", "other"}, {"code_class", "2xx"}}) == 50);
    CHECK(parsed.value("baton_lease_acquisitions_total", {{"route", "other"}, {"result", "busy"}}) == 50);
    CHECK(parsed.value("baton_metrics_overflows_total", {{"family", "baton_requests_total"}}) == 0);
  }

  TEST_CASE("lease decisions: acquisitions by result, waits, hand-offs and leases held") {
    core::metrics::Registry registry;
    ProxyMetrics metrics(registry, config_with_routes());
    metrics.lease_decided(decided("chat", LeaseDecision::acquired));
    metrics.lease_decided(decided("chat", LeaseDecision::acquired, /*migrated=*/true));
    metrics.lease_decided(decided("chat", LeaseDecision::waited));
    metrics.lease_decided(decided("chat", LeaseDecision::busy));
    metrics.lease_decided(decided("chat", LeaseDecision::too_many_waiters));
    metrics.lease_decided(decided("chat", LeaseDecision::backend_down));
    metrics.lease_decided(decided("chat", LeaseDecision::fail_open));
    metrics.lease_decided(decided("chat", LeaseDecision::bypassed));  // not an acquisition
    metrics.lease_ended();
    metrics.lease_wait_began();

    const auto parsed = scrape(registry);
    for (const char* result : {"busy", "waited", "too_many_waiters", "backend_down", "fail_open"}) {
      INFO("result ", result);
      CHECK(parsed.value("baton_lease_acquisitions_total", {{"route", "chat"}, {"result", result}}) == 1);
    }
    CHECK(parsed.value("baton_lease_acquisitions_total", {{"route", "chat"}, {"result", "acquired"}}) == 2);
    CHECK(parsed.value("baton_lease_wait_seconds_count") == 7);
    CHECK(parsed.value("baton_lease_wait_seconds_sum") == doctest::Approx(0.014));
    CHECK(parsed.value("baton_lease_handoffs_total") == 2);  // the migrated one and the one that waited
    CHECK(parsed.value("baton_leases_held") == 2);           // three taken, one ended
    CHECK(parsed.value("baton_lease_waiters") == 1);
  }

  TEST_CASE("watchdog, release, upstream and stream counts") {
    core::metrics::Registry registry;
    ProxyMetrics metrics(registry, config_with_routes());
    metrics.lease_lost();
    metrics.lease_max_hold();
    metrics.lease_renewals(3);
    metrics.lease_renewals(0);
    metrics.forced_release();
    metrics.forced_release();
    metrics.late_release();
    metrics.upstream_error(UpstreamError::connect);
    metrics.upstream_error(UpstreamError::reset);
    metrics.upstream_error(UpstreamError::reset);
    metrics.sse_stream_began();
    metrics.sse_stream_began();
    metrics.sse_stream_ended();

    const auto parsed = scrape(registry);
    CHECK(parsed.value("baton_leases_lost_total") == 1);
    CHECK(parsed.value("baton_lease_max_hold_total") == 1);
    CHECK(parsed.value("baton_lease_renewals_total") == 3);
    CHECK(parsed.value("baton_lease_forced_releases_total") == 2);
    CHECK(parsed.value("baton_lease_late_releases_total") == 1);
    CHECK(parsed.value("baton_upstream_errors_total", {{"kind", "connect"}}) == 1);
    CHECK(parsed.value("baton_upstream_errors_total", {{"kind", "reset"}}) == 2);
    CHECK(parsed.value("baton_upstream_errors_total", {{"kind", "timeout"}}) == 0);
    CHECK(parsed.value("baton_sse_streams_active") == 1);
  }

  TEST_CASE("redis: up only while every running client is connected, errors and round trips") {
    core::metrics::Registry registry;
    ProxyMetrics metrics(registry, config_with_routes());
    redis::ClientObserver& observer = metrics;
    CHECK(scrape(registry).value("baton_redis_up") == 0);  // no client yet
    observer.client_running(true);
    observer.client_running(true);
    observer.connection(true);
    CHECK(scrape(registry).value("baton_redis_up") == 0);  // one of two
    observer.connection(true);
    CHECK(scrape(registry).value("baton_redis_up") == 1);
    observer.connection(false);
    CHECK(scrape(registry).value("baton_redis_up") == 0);
    observer.connection(false);
    observer.client_running(false);
    observer.client_running(false);
    CHECK(scrape(registry).value("baton_redis_up") == 0);

    observer.command_failed();
    observer.round_trip(300us);
    observer.round_trip(2ms);
    const auto parsed = scrape(registry);
    CHECK(parsed.value("baton_redis_errors_total") == 1);
    CHECK(parsed.value("baton_redis_round_trip_seconds_count") == 2);
    CHECK(bucket(parsed, "baton_redis_round_trip_seconds", 0.0005) == 1);
  }

  TEST_CASE("with the memory backend there are no baton_redis_* series") {
    core::metrics::Registry registry;
    ProxyMetrics metrics(registry, config_with_routes(core::LeaseBackend::memory));
    redis::ClientObserver& observer = metrics;
    observer.command_failed();  // harmless
    observer.round_trip(1ms);
    const auto parsed = scrape(registry);
    for (const auto& sample : parsed.samples()) CHECK(sample.name.rfind("baton_redis_", 0) != 0);
    CHECK(parsed.value("baton_leases_held") == 0);
  }
}
