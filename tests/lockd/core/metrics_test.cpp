#include "baton/core/metrics.hpp"

#include "support/prometheus_text.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace baton::core::metrics;
using baton::test::parse_prometheus_text;

TEST_SUITE("metrics registry") {
  TEST_CASE("counters, gauges and histograms read back by the strict parser") {
    Registry registry;
    Counter& requests = registry.counter("app_requests_total", "Requests served.");
    auto& replies = registry.counter("app_replies_total", "Replies, by method and code.", {"method", "code"});
    Gauge& temperature = registry.gauge("app_temperature_celsius", "A gauge.");
    auto& queues = registry.gauge("app_queue_length", "Queued items, by queue.", {"queue"});
    Histogram& latency = registry.histogram("app_latency_seconds", "Latency.", {0.005, 0.1, 1});
    auto& sizes = registry.histogram("app_size_bytes", "Sizes, by kind.", {100, 1000}, {"kind"});
    registry.gauge_function("app_uptime_seconds", "Computed at scrape time.", [] { return 12.5; });
    registry.gauge_function("app_pool_size", "Pools, computed at scrape time.", {"pool"}, [](LabelledValues& out) {
      out.push_back({{"a"}, 3});
      out.push_back({{"b"}, 4});
      out.push_back({{"b"}, 5});        // a repeated child is dropped
      out.push_back({{"c", "d"}, 6});  // so is one with the wrong number of values
    });

    requests.inc();
    requests.inc(41);
    replies.with({"GET", "200"}).inc(3);
    replies.with({"POST", "500"});
    temperature.set(21.25);
    temperature.add(-1);
    queues.with({"in"}).set(-7);
    latency.observe(0.005);  // bounds are inclusive
    latency.observe(0.05);
    latency.observe(5);
    sizes.with({"json"}).observe(150);

    const std::string text = registry.prometheus_text();
    INFO(text);
    const auto parsed = parse_prometheus_text(text);
    CHECK(parsed.type("app_requests_total") == "counter");
    CHECK(parsed.help("app_requests_total") == "Requests served.");
    CHECK(parsed.value("app_requests_total") == 42);
    CHECK(parsed.value("app_replies_total", {{"method", "GET"}, {"code", "200"}}) == 3);
    CHECK(parsed.value("app_replies_total", {{"method", "POST"}, {"code", "500"}}) == 0);
    CHECK(parsed.type("app_temperature_celsius") == "gauge");
    CHECK(parsed.value("app_temperature_celsius") == 20.25);
    CHECK(parsed.value("app_queue_length", {{"queue", "in"}}) == -7);
    CHECK(parsed.type("app_latency_seconds") == "histogram");
    CHECK(parsed.value("app_latency_seconds_bucket", {{"le", "0.005"}}) == 1);
    CHECK(parsed.value("app_latency_seconds_bucket", {{"le", "0.1"}}) == 2);
    CHECK(parsed.value("app_latency_seconds_bucket", {{"le", "1"}}) == 2);
    CHECK(parsed.value("app_latency_seconds_bucket", {{"le", "+Inf"}}) == 3);
    CHECK(parsed.value("app_latency_seconds_count") == 3);
    CHECK(parsed.value("app_latency_seconds_sum") == 0.005 + 0.05 + 5);
    CHECK(parsed.value("app_size_bytes_bucket", {{"kind", "json"}, {"le", "100"}}) == 0);
    CHECK(parsed.value("app_size_bytes_bucket", {{"kind", "json"}, {"le", "1000"}}) == 1);
    CHECK(parsed.value("app_size_bytes_sum", {{"kind", "json"}}) == 150);
    CHECK(parsed.value("app_uptime_seconds") == 12.5);
    CHECK(parsed.value("app_pool_size", {{"pool", "a"}}) == 3);
    CHECK(parsed.value("app_pool_size", {{"pool", "b"}}) == 4);
    CHECK(!parsed.has("app_pool_size", {{"pool", "c"}}));
    CHECK(parsed.value("baton_metrics_overflows_total", {{"family", "app_replies_total"}}) == 0);
  }

  TEST_CASE("the exact text: registration order, HELP escapes, integers without exponent") {
    Registry registry;
    registry.counter("b_total", "Back\\slash and\nnewline.").inc(1000000);
    registry.gauge("a", "Big and small.").set(1e6);
    registry.gauge("c", "Not an integer.").set(0.1);
    registry.gauge("d", "Beyond 2^53.").set(1e300);
    registry.histogram("e", "Empty.", {1.5});
    CHECK(registry.prometheus_text() ==
          "# HELP b_total Back\\\\slash and\\nnewline.\n# TYPE b_total counter\nb_total 1000000\n"
          "# HELP a Big and small.\n# TYPE a gauge\na 1000000\n"
          "# HELP c Not an integer.\n# TYPE c gauge\nc 0.1\n"
          "# HELP d Beyond 2^53.\n# TYPE d gauge\nd 1e+300\n"
          "# HELP e Empty.\n# TYPE e histogram\ne_bucket{le=\"1.5\"} 0\ne_bucket{le=\"+Inf\"} 0\ne_sum 0\ne_count 0\n");
    CHECK(parse_prometheus_text(registry.prometheus_text()).help("b_total") == "Back\\slash and\nnewline.");
  }

  TEST_CASE("doubles round-trip, infinities and NaN are spelled as Prometheus does") {
    Registry registry;
    auto& values = registry.gauge("values", "Values.", {"which"});
    const double third = 1.0 / 3;
    values.with({"third"}).set(third);
    values.with({"tiny"}).set(5e-324);
    values.with({"plus"}).set(std::numeric_limits<double>::infinity());
    values.with({"minus"}).set(-std::numeric_limits<double>::infinity());
    values.with({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
    const auto parsed = parse_prometheus_text(registry.prometheus_text());
    CHECK(parsed.value("values", {{"which", "third"}}) == third);
    CHECK(parsed.value("values", {{"which", "tiny"}}) == 5e-324);
    CHECK(parsed.value("values", {{"which", "plus"}}) == std::numeric_limits<double>::infinity());
    CHECK(parsed.value("values", {{"which", "minus"}}) == -std::numeric_limits<double>::infinity());
    CHECK(std::isnan(parsed.value("values", {{"which", "nan"}})));
  }

  TEST_CASE("label values are escaped and read back unchanged") {
    Registry registry;
    auto& family = registry.counter("escaped_total", "Escapes.", {"value"});
    const std::string awkward = "a \"quoted\" \\ back\\slash\nnew line, {braces}=and ü";
    family.with({awkward}).inc(7);
    family.with({""}).inc();
    const std::string text = registry.prometheus_text();
    CHECK(text.find(R"(escaped_total{value="a \"quoted\" \\ back\\slash\nnew line, {braces}=and ü"} 7)") !=
          std::string::npos);
    const auto parsed = parse_prometheus_text(text);
    CHECK(parsed.value("escaped_total", {{"value", awkward}}) == 7);
    CHECK(parsed.value("escaped_total", {{"value", ""}}) == 1);
  }

  TEST_CASE("beyond its bound of children a family hands out one shared child labelled other") {
    Registry registry(2);
    auto& family = registry.counter("bounded_total", "Bounded.", {"user", "path"});
    Counter& first = family.with({"u1", "/a"});
    family.with({"u2", "/b"});
    Counter& overflow = family.with({"u3", "/c"});
    CHECK(&family.with({"u4", "/d"}) == &overflow);
    CHECK(&family.with({"u1", "/a"}) == &first);  // existing children stay reachable
    CHECK(family.overflows() == 2);
    overflow.inc(5);

    const auto parsed = parse_prometheus_text(registry.prometheus_text());
    CHECK(parsed.value("bounded_total", {{"user", "other"}, {"path", "other"}}) == 5);
    CHECK(!parsed.has("bounded_total", {{"user", "u3"}, {"path", "/c"}}));
    CHECK(parsed.value("baton_metrics_overflows_total", {{"family", "bounded_total"}}) == 2);
    CHECK(parsed.type("baton_metrics_overflows_total") == "counter");
  }

  TEST_CASE("a child labelled other by its caller is the overflow child: no duplicate series") {
    Registry registry(1);
    auto& family = registry.gauge("g", "G.", {"l"});
    Gauge& other = family.with({"other"});
    CHECK(&family.with({"x"}) == &other);
    parse_prometheus_text(registry.prometheus_text());
  }

  TEST_CASE("concurrent updates from four threads add up exactly") {
    Registry registry;
    Counter& counter = registry.counter("hits_total", "Hits.");
    Gauge& gauge = registry.gauge("level", "Level.");
    Histogram& histogram = registry.histogram("spread", "Spread.", {1, 2});
    constexpr int per_thread = 100000;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          counter.inc();
          gauge.add(1);
          histogram.observe(t);
        }
      });
    }
    std::thread scraper([&] {
      for (int i = 0; i < 50; ++i) parse_prometheus_text(registry.prometheus_text());
    });
    for (auto& thread : threads) thread.join();
    scraper.join();

    const auto parsed = parse_prometheus_text(registry.prometheus_text());
    CHECK(parsed.value("hits_total") == 4 * per_thread);
    CHECK(parsed.value("level") == 4 * per_thread);
    CHECK(parsed.value("spread_bucket", {{"le", "1"}}) == 2 * per_thread);
    CHECK(parsed.value("spread_bucket", {{"le", "2"}}) == 3 * per_thread);
    CHECK(parsed.value("spread_count") == 4 * per_thread);
    CHECK(parsed.value("spread_sum") == (0 + 1 + 2 + 3) * per_thread);
  }

  TEST_CASE("bad names, duplicates and bad bounds throw at registration") {
    Registry registry;
    registry.counter("taken_total", "Taken.");
    registry.counter("h_count", "Would clash with histogram h.");
    CHECK_THROWS_AS(registry.counter("", "Empty."), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("1st", "Digit first."), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("a-b", "Dash."), std::invalid_argument);
    CHECK_THROWS_AS(registry.gauge("a b", "Blank."), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("taken_total", "Again."), std::invalid_argument);
    CHECK_THROWS_AS(registry.gauge("taken_total", "Again, another type."), std::invalid_argument);
    CHECK_THROWS_AS(registry.gauge_function("taken_total", "Again.", [] { return 1.0; }), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("baton_metrics_overflows_total", "The registry's own."), std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("h", "Its _count is taken.", {1}), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("l1", "Bad label.", {"1a"}), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("l2", "Bad label.", {"a:b"}), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("l3", "Reserved label.", {"__name"}), std::invalid_argument);
    CHECK_THROWS_AS(registry.counter("l4", "Repeated label.", {"a", "a"}), std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("l5", "le is the buckets'.", {1}, {"le"}), std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("b1", "Decreasing.", {2, 1}), std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("b2", "Repeated.", {1, 1}), std::invalid_argument);
    CHECK_THROWS_AS(registry.histogram("b3", "Infinite.", {1, std::numeric_limits<double>::infinity()}),
                    std::invalid_argument);
    auto& family = registry.counter("arity_total", "Two labels.", {"a", "b"});
    CHECK_THROWS_AS(family.with({"only one"}), std::invalid_argument);
    CHECK_THROWS_AS(family.with({"one", "two", "three"}), std::invalid_argument);

    // Failed registrations leave nothing behind; the names stay free.
    registry.counter("l1", "Fine now.");
    registry.histogram("b1", "Fine now.", {1, 2});
    parse_prometheus_text(registry.prometheus_text());
  }
}

}  // namespace
