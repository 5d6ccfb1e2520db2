// A strict parser of the Prometheus text format 0.0.4, for tests of what baton exposes.
// It rejects what a Prometheus server would reject or silently mangle: bad names or
// escapes, unquoted label values, values that are not floats, misplaced or repeated TYPE
// lines, families split in several groups, duplicate series, inconsistent histograms and
// a missing trailing newline.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace baton::test {

using Labels = std::map<std::string, std::string>;

// A text that breaks the format; what() reads "line N: reason".
class PrometheusTextError : public std::runtime_error {
public:
  PrometheusTextError(int line, const std::string& reason);
  int line() const noexcept { return line_; }

private:
  int line_;
};

struct PrometheusSample {
  std::string name;  // the series name: x_bucket, x_sum, x_count for a histogram x
  Labels labels;
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
  int line = 0;
};

class PrometheusTextParser;

class ParsedMetrics {
public:
  // The value of one series, labels unescaped; throws std::out_of_range when absent.
  double value(std::string_view series_name, const Labels& labels = {}) const;
  bool has(std::string_view series_name, const Labels& labels = {}) const;
  // From the TYPE line, "untyped" for a family with samples but no TYPE line; throws
  // std::out_of_range for a family the text does not mention.
  std::string type(std::string_view family) const;
  // The HELP text unescaped; throws std::out_of_range without a HELP line.
  std::string help(std::string_view family) const;
  const std::vector<PrometheusSample>& samples() const noexcept { return samples_; }

private:
  friend class PrometheusTextParser;

  std::vector<PrometheusSample> samples_;
  std::map<std::pair<std::string, Labels>, double> series_;
  std::map<std::string, std::string, std::less<>> types_;
  std::map<std::string, std::string, std::less<>> helps_;
  std::set<std::string, std::less<>> families_;  // every family with a sample, HELP or TYPE
};

// Throws PrometheusTextError on the first violation.
ParsedMetrics parse_prometheus_text(std::string_view text);

}  // namespace baton::test
