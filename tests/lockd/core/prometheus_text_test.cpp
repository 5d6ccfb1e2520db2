// The strict parser of tests/support must reject what it promises to reject, or the
// metrics tests that rely on it prove nothing.
#include "support/prometheus_text.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using baton::test::parse_prometheus_text;
using baton::test::PrometheusTextError;

void check_rejected(std::string_view text, int line, std::string_view reason_part) {
  INFO("text:\n" << text);
  try {
    parse_prometheus_text(text);
    FAIL("accepted");
  } catch (const PrometheusTextError& error) {
    INFO("what(): " << std::string(error.what()));
    CHECK(error.line() == line);
    CHECK(std::string(error.what()).find(reason_part) != std::string::npos);
  }
}

TEST_SUITE("strict Prometheus text parser") {
  TEST_CASE("reads a valid text: comments, HELP, TYPE, labels, timestamps, special values") {
    const auto parsed = parse_prometheus_text(
        "# a comment\n"
        "\n"
        "# HELP requests_total Requests \\\\ served\\n today.\n"
        "# TYPE requests_total counter\n"
        "requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 12 1700000000000\n"
        "requests_total{method=\"POST\" , path = \"/\",} 1.5e3\n"
        "# TYPE temperature gauge\n"
        "temperature -Inf\n"
        "temperature{room=\"up\"} +Inf\n"
        "temperature{room=\"down\"} NaN\n"
        "temperature{room=\"side\"} -.5e-1\n"
        "untyped_thing 7\n"
        "# TYPE latency histogram\n"
        "latency_bucket{le=\"0.5\"} 1\n"
        "latency_bucket{le=\"+Inf\"} 3\n"
        "latency_sum 4.5\n"
        "latency_count 3\n"
        "# TYPE rpc summary\n"
        "rpc{quantile=\"0.5\"} 0.2\n"
        "rpc_sum 10\n"
        "rpc_count 40\n");
    CHECK(parsed.help("requests_total") == "Requests \\ served\n today.");
    CHECK(parsed.type("requests_total") == "counter");
    CHECK(parsed.value("requests_total", {{"method", "GET"}, {"path", "/a\"b\\c\nd"}}) == 12);
    CHECK(parsed.value("requests_total", {{"path", "/"}, {"method", "POST"}}) == 1500);
    CHECK(parsed.value("temperature") == -std::numeric_limits<double>::infinity());
    CHECK(parsed.value("temperature", {{"room", "up"}}) == std::numeric_limits<double>::infinity());
    CHECK(std::isnan(parsed.value("temperature", {{"room", "down"}})));
    CHECK(parsed.value("temperature", {{"room", "side"}}) == -0.05);
    CHECK(parsed.type("untyped_thing") == "untyped");
    CHECK(parsed.type("latency") == "histogram");
    CHECK(parsed.value("latency_bucket", {{"le", "+Inf"}}) == 3);
    CHECK(parsed.value("rpc_count") == 40);
    CHECK(parsed.samples().front().timestamp_ms == 1700000000000);
    CHECK(parsed.samples().size() == 14);
    CHECK(!parsed.has("requests_total"));
    CHECK_THROWS_AS(parsed.value("requests_total"), std::out_of_range);
    CHECK_THROWS_AS(parsed.type("absent"), std::out_of_range);
    CHECK(parse_prometheus_text("").samples().empty());
  }

  TEST_CASE("bad metric names") {
    check_rejected("1x 1\n", 1, "invalid metric name '1x'");
    check_rejected("ok 1\nx-y 1\n", 2, "invalid metric name 'x-y'");
    check_rejected("# TYPE 1x counter\n", 1, "invalid metric name");
    check_rejected("# HELP a.b help\n", 1, "invalid metric name");
  }

  TEST_CASE("bad label names") {
    check_rejected("x{1a=\"v\"} 1\n", 1, "invalid label name '1a'");
    check_rejected("x{a-b=\"v\"} 1\n", 1, "invalid label name");
    check_rejected("x{a:b=\"v\"} 1\n", 1, "invalid label name");
    check_rejected("x{__name__=\"v\"} 1\n", 1, "invalid label name");
    check_rejected("x{a=\"v\",a=\"w\"} 1\n", 1, "duplicate label name a");
  }

  TEST_CASE("bad escapes") {
    check_rejected("x{a=\"\\t\"} 1\n", 1, "invalid escape \\t");
    check_rejected("x{a=\"\\\"} 1\n", 1, "unterminated");
    check_rejected("# HELP x a \\\"quote\\\"\n", 1, "invalid escape \\\"");
    check_rejected("# HELP x trailing \\\n", 1, "a lone \\ at the end of HELP text");
  }

  TEST_CASE("unquoted label values and broken label sets") {
    check_rejected("x{a=v} 1\n", 1, "value of label a is not quoted");
    check_rejected("x{a='v'} 1\n", 1, "not quoted");
    check_rejected("x{a=\"v\" b=\"w\"} 1\n", 1, "expected , or }");
    check_rejected("x{a \"v\"} 1\n", 1, "expected =");
    check_rejected("x{a=\"v\"\n", 1, "expected , or }");
  }

  TEST_CASE("values that are not floats, bad timestamps, trailing text") {
    for (std::string_view value : {"abc", "1.2.3", "0x10", "inf", "Inf", "nan", "+inf", "1e", "--1", ".", "1,5", ""}) {
      CAPTURE(value);
      check_rejected("x " + std::string(value) + "\n", 1, "is not a float");
    }
    check_rejected("x1\n", 1, "expected a blank");
    check_rejected("x 1 1.5\n", 1, "timestamp '1.5' is not an integer");
    check_rejected("x 1 12 extra\n", 1, "unexpected text after the timestamp");
    check_rejected("# TYPE x counter extra\n", 1, "unexpected text after TYPE");
    check_rejected("# TYPE x countre\n", 1, "unknown metric type");
  }

  TEST_CASE("TYPE after the family's samples, two TYPE or HELP lines") {
    check_rejected("x 1\n# TYPE x counter\n", 2, "TYPE line for x after its samples");
    check_rejected("h_bucket{le=\"+Inf\"} 1\n# TYPE h histogram\n", 2, "after its samples");
    check_rejected("# TYPE x counter\n# TYPE x counter\nx 1\n", 2, "second TYPE line for x");
    check_rejected("# TYPE x counter\nx 1\ny 1\n# TYPE x gauge\n", 4, "second TYPE line for x");
    check_rejected("# HELP x a\n# HELP x b\n", 2, "second HELP line for x");
    check_rejected("x 1\n# HELP x late\n", 2, "HELP line for x after its samples");
  }

  TEST_CASE("the lines of a family must be contiguous") {
    check_rejected("x{a=\"1\"} 1\ny 1\nx{a=\"2\"} 1\n", 3, "lines of x are not contiguous");
    check_rejected("# HELP x X.\n# HELP y Y.\n# TYPE x counter\n", 3, "lines of x are not contiguous");
    check_rejected("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nother 1\nh_count 1\n", 4,
                   "lines of h are not contiguous");
  }

  TEST_CASE("duplicate series") {
    check_rejected("x 1\nx 2\n", 2, "duplicate series x");
    check_rejected("x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 1\n", 2, "duplicate series x");
  }

  TEST_CASE("histograms: cumulative buckets, a +Inf bucket equal to _count") {
    const std::string head = "# TYPE h histogram\n";
    check_rejected(head + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\nh_bucket{le=\"+Inf\"} 5\nh_count 5\n", 3,
                   "buckets of h are not cumulative");
    check_rejected(head + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 6\nh_count 6\n", 3, "no +Inf bucket for h");
    check_rejected(head + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 6\nh_count 7\n", 4,
                   "h_count differs from its +Inf bucket");
    check_rejected(head + "h_bucket{le=\"+Inf\"} 6\nh_sum 1\n", 2, "no h_count");
    check_rejected(head + "h_count 1\n", 2, "no buckets");
    check_rejected(head + "h_bucket 1\n", 2, "without an le label");
    check_rejected(head + "h_bucket{le=\"x\"} 1\n", 2, "le 'x' is not a float");
    check_rejected(head + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", 3,
                   "duplicate bucket");
    check_rejected(head + "h 1\n", 2, "without _bucket, _sum or _count");
    // Buckets are checked per label set.
    check_rejected(head + "h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_count{a=\"1\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n", 4,
                   "no h_count");
  }

  TEST_CASE("a missing trailing newline") {
    check_rejected("x 1", 1, "no newline at the end");
    check_rejected("# TYPE x counter\nx 1", 2, "no newline at the end");
  }
}

}  // namespace
