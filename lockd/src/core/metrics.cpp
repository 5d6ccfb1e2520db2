#include "baton/core/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace baton::core::metrics {
namespace {

constexpr std::string_view overflows_name = "baton_metrics_overflows_total";
constexpr std::string_view overflows_help =
    "Calls for new label values that found their metric family full and got its child labelled \"other\".";

bool is_name(std::string_view name, bool colons) {
  const auto letter = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
  };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return !name.empty() && letter(name.front()) &&
         std::all_of(name.begin() + 1, name.end(), [&](char c) { return letter(c) || digit(c); });
}

bool is_metric_name(std::string_view name) { return is_name(name, true); }

// Names starting with "__" are reserved for Prometheus itself.
bool is_label_name(std::string_view name) { return is_name(name, false) && !name.starts_with("__"); }

std::invalid_argument invalid(std::string_view what, std::string_view name) {
  return std::invalid_argument(std::string(what) + " \"" + std::string(name) + "\"");
}

std::vector<double> checked_bounds(std::vector<double> bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) throw std::invalid_argument("histogram bounds must be finite (+Inf is implicit)");
    if (i > 0 && bounds[i] <= bounds[i - 1]) throw std::invalid_argument("histogram bounds must increase strictly");
  }
  return bounds;
}

void append_number(std::string& out, std::uint64_t value) {
  char buffer[24];
  out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

// Integers print as integers (shortest form would give 1e+06), others in the shortest
// form that reads back to the same double.
void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    constexpr double exact_integers = 9007199254740992.0;  // 2^53
    char buffer[32];
    const auto end = buffer + sizeof buffer;
    const bool integer = value == std::trunc(value) && std::fabs(value) <= exact_integers;
    out.append(buffer, (integer ? std::to_chars(buffer, end, static_cast<std::int64_t>(value))
                                : std::to_chars(buffer, end, value))
                           .ptr);
  }
}

// HELP text escapes \ and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out.append("# HELP ").append(name).append(" ");
  append_escaped(out, help, false);
  out.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

struct Label {
  std::string_view name;
  std::string_view value;
};

// `name{label="value",...} value\n`, with an optional extra label (a bucket's `le`).
template <class Number>
void append_sample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                   const LabelValues& values, Number value, const Label* extra = nullptr) {
  out.append(name);
  if (!label_names.empty() || extra) {
    char separator = '{';
    const auto append_label = [&](std::string_view label, std::string_view label_value) {
      out.append(1, separator).append(label).append("=\"");
      append_escaped(out, label_value, true);
      out += '"';
      separator = ',';
    };
    for (std::size_t i = 0; i < label_names.size(); ++i) append_label(label_names[i], values[i]);
    if (extra) append_label(extra->name, extra->value);
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

void append_child(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Counter& counter) {
  append_sample(out, name, label_names, values, counter.value());
}

void append_child(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Gauge& gauge) {
  append_sample(out, name, label_names, values, gauge.value());
}

void append_child(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                  const LabelValues& values, const Histogram& histogram) {
  const auto snapshot = histogram.snapshot();
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    std::string le;
    if (i < histogram.bounds().size()) {
      append_number(le, histogram.bounds()[i]);
    } else {
      le = "+Inf";
    }
    const Label label{"le", le};
    append_sample(out, bucket, label_names, values, snapshot.cumulative[i], &label);
  }
  append_sample(out, std::string(name) + "_sum", label_names, values, snapshot.sum);
  append_sample(out, std::string(name) + "_count", label_names, values, snapshot.cumulative.back());
}

template <class Metric>
constexpr std::string_view type_name() {
  if constexpr (std::is_same_v<Metric, Counter>) return "counter";
  if constexpr (std::is_same_v<Metric, Gauge>) return "gauge";
  if constexpr (std::is_same_v<Metric, Histogram>) return "histogram";
}

class GaugeFunction final : public detail::FamilyBase {
public:
  GaugeFunction(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                std::function<void(LabelledValues&)> collect)
      : name_(name), help_(help), label_names_(std::move(label_names)), collect_(std::move(collect)) {}

  void render(std::string& out) const override {
    append_header(out, name_, help_, "gauge");
    LabelledValues collected;
    collect_(collected);
    std::set<LabelValues> seen;
    for (const auto& [values, value] : collected) {
      if (values.size() != label_names_.size() || !seen.insert(values).second) continue;
      append_sample(out, name_, label_names_, values, value);
    }
  }

private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::function<void(LabelledValues&)> collect_;
};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(checked_bounds(std::move(bounds))),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double value) noexcept {
  const auto bucket = std::isnan(value) ? bounds_.end() : std::lower_bound(bounds_.begin(), bounds_.end(), value);
  buckets_[static_cast<std::size_t>(bucket - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::function<std::unique_ptr<Metric>()> make, std::size_t max_children,
                       Counter* overflows)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      make_(std::move(make)),
      max_children_(max_children),
      overflows_(overflows) {
  if (label_names_.empty()) find_or_add({});  // the family's only child, shown from the start
}

template <class Metric>
Metric& Family<Metric>::with(const LabelValues& values) {
  if (values.size() != label_names_.size())
    throw invalid("wrong number of label values for metric", name_);
  std::lock_guard lock(mutex_);
  if (const auto found = index_.find(values); found != index_.end()) return *found->second;
  if (children_.size() < max_children_) return find_or_add(values);
  if (overflows_) overflows_->inc();
  return find_or_add(LabelValues(label_names_.size(), "other"));
}

template <class Metric>
Metric& Family<Metric>::find_or_add(const LabelValues& values) {
  if (const auto found = index_.find(values); found != index_.end()) return *found->second;
  auto& child = children_.emplace_back(Child{values, make_()});
  index_.emplace(values, child.metric.get());
  return *child.metric;
}

template <class Metric>
void Family<Metric>::render(std::string& out) const {
  append_header(out, name_, help_, type_name<Metric>());
  std::lock_guard lock(mutex_);
  for (const auto& child : children_) append_child(out, name_, label_names_, child.values, *child.metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Registry(std::size_t max_children) : max_children_(max_children) {
  series_names_.emplace(overflows_name);
  overflows_.reset(new Family<Counter>(
      std::string(overflows_name), std::string(overflows_help), {"family"},
      [] { return std::make_unique<Counter>(); }, std::numeric_limits<std::size_t>::max(), nullptr));
}

Registry::~Registry() = default;

void Registry::reserve(std::string_view name, const std::vector<std::string>& label_names, bool histogram) {
  if (!is_metric_name(name)) throw invalid("invalid metric name", name);
  std::set<std::string_view> seen;
  for (const auto& label : label_names) {
    if (!is_label_name(label)) throw invalid("invalid label name", label);
    if (histogram && label == "le") throw invalid("histogram label reserved for buckets", label);
    if (!seen.insert(label).second) throw invalid("duplicate label name", label);
  }
  std::vector<std::string> series{std::string(name)};
  if (histogram) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"})
      series.push_back(std::string(name) + std::string(suffix));
  }
  for (const auto& taken : series) {
    if (series_names_.contains(taken)) throw invalid("metric name already registered", taken);
  }
  series_names_.insert(series.begin(), series.end());
}

template <class Metric>
Family<Metric>& Registry::add(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                              std::function<std::unique_ptr<Metric>()> make) {
  std::lock_guard lock(mutex_);
  reserve(name, label_names, std::is_same_v<Metric, Histogram>);
  Counter* overflows = label_names.empty() ? nullptr : &overflows_->with({std::string(name)});
  std::unique_ptr<Family<Metric>> family(new Family<Metric>(std::string(name), std::string(help),
                                                            std::move(label_names), std::move(make),
                                                            max_children_, overflows));
  auto& added = *family;
  families_.push_back(std::move(family));
  return added;
}

Counter& Registry::counter(std::string_view name, std::string_view help) { return counter(name, help, {}).with({}); }

Family<Counter>& Registry::counter(std::string_view name, std::string_view help,
                                   std::vector<std::string> label_names) {
  return add<Counter>(name, help, std::move(label_names), [] { return std::make_unique<Counter>(); });
}

Gauge& Registry::gauge(std::string_view name, std::string_view help) { return gauge(name, help, {}).with({}); }

Family<Gauge>& Registry::gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names) {
  return add<Gauge>(name, help, std::move(label_names), [] { return std::make_unique<Gauge>(); });
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds) {
  return histogram(name, help, std::move(bounds), {}).with({});
}

Family<Histogram>& Registry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                       std::vector<std::string> label_names) {
  return add<Histogram>(name, help, std::move(label_names),
                        [checked = checked_bounds(std::move(bounds))] { return std::make_unique<Histogram>(checked); });
}

void Registry::gauge_function(std::string_view name, std::string_view help, std::function<double()> value) {
  gauge_function(name, help, {},
                 [value = std::move(value)](LabelledValues& out) { out.emplace_back(LabelValues{}, value()); });
}

void Registry::gauge_function(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                              std::function<void(LabelledValues&)> collect) {
  std::lock_guard lock(mutex_);
  reserve(name, label_names, false);
  families_.push_back(std::make_unique<GaugeFunction>(name, help, std::move(label_names), std::move(collect)));
}

std::string Registry::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& family : families_) family->render(out);
  // Its children are added only under mutex_, which is held.
  if (!overflows_->children_.empty()) overflows_->render(out);
  return out;
}

}  // namespace baton::core::metrics
