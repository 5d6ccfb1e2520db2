#include "support/prometheus_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace baton::test {
namespace {

bool is_name(std::string_view name, bool colons) {
  const auto letter = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
  };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return !name.empty() && letter(name.front()) &&
         std::all_of(name.begin() + 1, name.end(), [&](char c) { return letter(c) || digit(c); });
}

bool is_metric_name(std::string_view name) { return is_name(name, true); }
bool is_label_name(std::string_view name) { return is_name(name, false) && !name.starts_with("__"); }

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal floats as Prometheus writes them, plus exactly +Inf, -Inf and NaN.
std::optional<double> parse_float(std::string_view text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) rest.remove_prefix(1);
  const auto exponent = rest.find_first_of("eE");
  const std::string_view mantissa = rest.substr(0, exponent);
  const auto point = mantissa.find('.');
  const std::string_view whole = mantissa.substr(0, point);
  const std::string_view fraction = point == std::string_view::npos ? "" : mantissa.substr(point + 1);
  if (whole.empty() && fraction.empty()) return std::nullopt;
  if ((!whole.empty() && !all_digits(whole)) || (!fraction.empty() && !all_digits(fraction))) return std::nullopt;
  if (exponent != std::string_view::npos) {
    std::string_view power = rest.substr(exponent + 1);
    if (!power.empty() && (power.front() == '+' || power.front() == '-')) power.remove_prefix(1);
    if (!all_digits(power)) return std::nullopt;
  }
  const char* first = text.data() + (text.front() == '+' ? 1 : 0);
  double value = 0;
  const auto [end, error] = std::from_chars(first, text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// One line, read left to right.
class Cursor {
public:
  Cursor(std::string_view line, int number) : line_(line), number_(number) {}

  bool done() const { return at_ == line_.size(); }
  char peek() const { return done() ? '\0' : line_[at_]; }
  void skip() { ++at_; }
  bool skip_blanks() {
    const auto start = at_;
    while (!done() && is_blank(line_[at_])) ++at_;
    return at_ > start;
  }
  // Up to the first blank or any of `stops`.
  std::string_view token(std::string_view stops = "") {
    const auto start = at_;
    while (!done() && !is_blank(line_[at_]) && stops.find(line_[at_]) == std::string_view::npos) ++at_;
    return line_.substr(start, at_ - start);
  }
  std::string_view rest() {
    const auto start = at_;
    at_ = line_.size();
    return line_.substr(start);
  }
  // Reads escaped text up to `end` (or the end of the line when end is '\0'); \\ and \n
  // always, \" too when `quotes`.
  std::string unescape(char end, bool quotes, std::string_view what) {
    std::string out;
    while (!done() && peek() != end) {
      char c = line_[at_++];
      if (c == '\\') {
        if (done()) fail("a lone \\ at the end of " + std::string(what));
        const char next = peek();
        if (next == '\\' || next == 'n' || (quotes && next == '"')) {
          c = next == 'n' ? '\n' : next;
          skip();
        } else {
          fail("invalid escape \\" + std::string(1, next) + " in " + std::string(what));
        }
      }
      out += c;
    }
    if (end != '\0' && done()) fail("unterminated " + std::string(what));
    if (end != '\0') skip();
    return out;
  }

  [[noreturn]] void fail(const std::string& reason) const { throw PrometheusTextError(number_, reason); }
  int number() const { return number_; }

private:
  std::string_view line_;
  std::size_t at_ = 0;
  int number_;
};

}  // namespace

class PrometheusTextParser {
public:
  void line(Cursor& cursor) {
    cursor.skip_blanks();
    if (cursor.done()) return;
    if (cursor.peek() == '#') {
      cursor.skip();
      comment(cursor);
    } else {
      sample(cursor);
    }
  }

  // Checks that need the whole text: histogram consistency.
  void finish() {
    for (const auto& [family, type] : types_) {
      if (type == "histogram") check_histogram(family);
    }
  }

  ParsedMetrics result() && {
    ParsedMetrics out;
    out.samples_ = std::move(samples_);
    for (const auto& sample : out.samples_) out.series_.emplace(std::pair{sample.name, sample.labels}, sample.value);
    out.types_ = std::move(types_);
    out.helps_ = std::move(helps_);
    out.families_ = std::move(families_);
    return out;
  }

private:
  void comment(Cursor& cursor) {
    cursor.skip_blanks();
    const auto keyword = cursor.token();
    if (keyword != "HELP" && keyword != "TYPE") return;  // a plain comment
    cursor.skip_blanks();
    const std::string name(cursor.token());
    if (!is_metric_name(name)) cursor.fail("invalid metric name " + quoted(name) + " in " + std::string(keyword));
    if (keyword == "HELP") {
      if (helps_.contains(name)) cursor.fail("second HELP line for " + name);
      if (has_samples_of(name, "")) cursor.fail("HELP line for " + name + " after its samples");
      cursor.skip_blanks();
      helps_[name] = cursor.unescape('\0', false, "HELP text");
    } else {
      cursor.skip_blanks();
      const std::string type(cursor.token());
      if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" && type != "untyped")
        cursor.fail("unknown metric type " + quoted(type));
      cursor.skip_blanks();
      if (!cursor.done()) cursor.fail("unexpected text after TYPE " + name + " " + type);
      if (types_.contains(name)) cursor.fail("second TYPE line for " + name);
      if (has_samples_of(name, type)) cursor.fail("TYPE line for " + name + " after its samples");
      types_[name] = type;
    }
    enter_group(cursor, name);
  }

  void sample(Cursor& cursor) {
    PrometheusSample sample;
    sample.line = cursor.number();
    sample.name = cursor.token("{");
    if (!is_metric_name(sample.name)) cursor.fail("invalid metric name " + quoted(sample.name));
    if (cursor.peek() == '{') {
      cursor.skip();
      labels(cursor, sample);
    }
    if (!cursor.skip_blanks()) cursor.fail("expected a blank before the value of " + sample.name);
    const auto value_text = cursor.token();
    const auto value = parse_float(value_text);
    if (!value) cursor.fail("value " + quoted(value_text) + " is not a float");
    sample.value = *value;
    cursor.skip_blanks();
    if (!cursor.done()) {
      const auto timestamp_text = cursor.token();
      sample.timestamp_ms = parse_timestamp(timestamp_text);
      if (!sample.timestamp_ms) cursor.fail("timestamp " + quoted(timestamp_text) + " is not an integer");
      cursor.skip_blanks();
      if (!cursor.done()) cursor.fail("unexpected text after the timestamp: " + quoted(cursor.rest()));
    }

    const std::string family = family_of(sample.name);
    if (types_.contains(family) && types_.at(family) == "histogram") {
      if (sample.name == family) cursor.fail("histogram " + family + " has a sample without _bucket, _sum or _count");
      if (sample.name == family + "_bucket") {
        if (!sample.labels.contains("le")) cursor.fail("bucket of " + family + " without an le label");
        const auto& le = sample.labels.at("le");
        if (!parse_float(le)) cursor.fail("le " + quoted(le) + " is not a float");
      }
    }
    enter_group(cursor, family);
    if (!series_.emplace(sample.name, sample.labels).second) cursor.fail("duplicate series " + sample.name);
    sample_names_.insert(sample.name);
    samples_.push_back(std::move(sample));
  }

  // {name="value",...} after the opening brace; a trailing comma is allowed.
  void labels(Cursor& cursor, PrometheusSample& sample) {
    cursor.skip_blanks();
    while (cursor.peek() != '}') {
      const std::string name(cursor.token("=,}\""));
      if (!is_label_name(name)) cursor.fail("invalid label name " + quoted(name) + " in " + sample.name);
      cursor.skip_blanks();
      if (cursor.peek() != '=') cursor.fail("expected = after label name " + name);
      cursor.skip();
      cursor.skip_blanks();
      if (cursor.peek() != '"') cursor.fail("value of label " + name + " is not quoted");
      cursor.skip();
      std::string value = cursor.unescape('"', true, "value of label " + name);
      if (!sample.labels.emplace(name, std::move(value)).second) cursor.fail("duplicate label name " + name);
      cursor.skip_blanks();
      if (cursor.peek() == ',') {
        cursor.skip();
        cursor.skip_blanks();
      } else if (cursor.peek() != '}') {
        cursor.fail("expected , or } after the value of label " + name);
      }
    }
    cursor.skip();
  }

  // The family a series belongs to: x for x_bucket, x_sum and x_count of a histogram x
  // (x_sum and x_count of a summary x), otherwise the series itself.
  std::string family_of(const std::string& series) const {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (!series.ends_with(suffix)) continue;
      const auto base = series.substr(0, series.size() - suffix.size());
      const auto type = types_.find(base);
      if (type == types_.end()) continue;
      if (type->second == "histogram" || (type->second == "summary" && suffix != "_bucket")) return base;
    }
    return series;
  }

  bool has_samples_of(const std::string& family, std::string_view type) const {
    std::vector<std::string> names{family};
    if (type == "histogram" || type == "summary") {
      names.push_back(family + "_sum");
      names.push_back(family + "_count");
    }
    if (type == "histogram") names.push_back(family + "_bucket");
    return std::any_of(names.begin(), names.end(), [&](const auto& name) { return sample_names_.contains(name); });
  }

  // All lines of one family come as one group.
  void enter_group(const Cursor& cursor, const std::string& family) {
    families_.insert(family);
    if (family == current_) return;
    if (closed_.contains(family)) cursor.fail("lines of " + family + " are not contiguous");
    if (!current_.empty()) closed_.insert(current_);
    current_ = family;
  }

  void check_histogram(const std::string& family) {
    struct Series {
      std::vector<std::pair<double, const PrometheusSample*>> buckets;
      const PrometheusSample* count = nullptr;
    };
    std::map<Labels, Series> by_labels;
    for (const auto& sample : samples_) {
      if (sample.name == family + "_bucket") {
        Labels labels = sample.labels;
        const double le = *parse_float(labels.at("le"));
        labels.erase("le");
        by_labels[labels].buckets.emplace_back(le, &sample);
      } else if (sample.name == family + "_count") {
        by_labels[sample.labels].count = &sample;
      }
    }
    for (auto& [labels, series] : by_labels) {
      auto& buckets = series.buckets;
      if (buckets.empty()) throw PrometheusTextError(series.count->line, "no buckets for " + family + "_count");
      std::stable_sort(buckets.begin(), buckets.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (std::size_t i = 1; i < buckets.size(); ++i) {
        const auto& [le, sample] = buckets[i];
        if (le == buckets[i - 1].first) throw PrometheusTextError(sample->line, "duplicate bucket of " + family);
        if (sample->value < buckets[i - 1].second->value)
          throw PrometheusTextError(sample->line, "buckets of " + family + " are not cumulative");
      }
      const auto& [last_le, last] = buckets.back();
      if (last_le != std::numeric_limits<double>::infinity())
        throw PrometheusTextError(last->line, "no +Inf bucket for " + family);
      if (!series.count) throw PrometheusTextError(last->line, "no " + family + "_count for these buckets");
      if (series.count->value != last->value)
        throw PrometheusTextError(series.count->line, family + "_count differs from its +Inf bucket");
    }
  }

  std::vector<PrometheusSample> samples_;
  std::set<std::pair<std::string, Labels>> series_;
  std::set<std::string, std::less<>> sample_names_;
  std::map<std::string, std::string, std::less<>> types_;
  std::map<std::string, std::string, std::less<>> helps_;
  std::set<std::string, std::less<>> families_;
  std::string current_;                      // the family of the group being read
  std::set<std::string, std::less<>> closed_;  // families whose group has ended
};

PrometheusTextError::PrometheusTextError(int line, const std::string& reason)
    : std::runtime_error("line " + std::to_string(line) + ": " + reason), line_(line) {}

double ParsedMetrics::value(std::string_view series_name, const Labels& labels) const {
  const auto found = series_.find(std::pair{std::string(series_name), labels});
  if (found == series_.end()) {
    std::string series(series_name);
    for (const auto& [name, label_value] : labels) series += " " + name + "=" + label_value;
    throw std::out_of_range("no series " + series);
  }
  return found->second;
}

bool ParsedMetrics::has(std::string_view series_name, const Labels& labels) const {
  return series_.contains(std::pair{std::string(series_name), labels});
}

std::string ParsedMetrics::type(std::string_view family) const {
  if (const auto found = types_.find(family); found != types_.end()) return found->second;
  if (families_.contains(family)) return "untyped";
  throw std::out_of_range("no family " + std::string(family));
}

std::string ParsedMetrics::help(std::string_view family) const {
  if (const auto found = helps_.find(family); found != helps_.end()) return found->second;
  throw std::out_of_range("no HELP for " + std::string(family));
}

ParsedMetrics parse_prometheus_text(std::string_view text) {
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  if (!text.empty() && text.back() != '\n') throw PrometheusTextError(lines + 1, "no newline at the end of the text");
  PrometheusTextParser parser;
  int number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = text.find('\n', start);
    Cursor cursor(text.substr(start, end - start), ++number);
    parser.line(cursor);
    start = end + 1;
  }
  parser.finish();
  return std::move(parser).result();
}

}  // namespace baton::test
