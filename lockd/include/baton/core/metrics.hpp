// A small Prometheus metrics registry: counters, gauges and histograms, in families with
// label names fixed at registration, rendered in the text format 0.0.4.
//
// Updates are relaxed atomics and take no lock, so worker threads may update a metric on
// the request path while another thread scrapes. Registration and Family::with() take a
// mutex: do them at setup and keep the references they return, which stay valid for the
// registry's life. Names are validated at registration; a bad name, a duplicate family
// or a wrong number of label values throws std::invalid_argument.
//
//   Registry registry;
//   Counter& requests = registry.counter("app_requests_total", "Requests served.");
//   auto& replies = registry.counter("app_replies_total", "Replies, by code.", {"code"});
//   Counter& ok = replies.with({"200"});  // at setup; ok.inc() on the request path
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::core::metrics {

using LabelValues = std::vector<std::string>;

class Counter {
public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) noexcept { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets by upper bound (inclusive, as Prometheus's `le`), plus
// an implicit +Inf bucket; NaN goes to +Inf only.
class Histogram {
public:
  // Bounds strictly increasing and finite; throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> bounds);

  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  // Consistent within the buckets: the count is their total, so _count always equals
  // the +Inf bucket even while other threads observe. The sum may lag them slightly.
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // not cumulative; last is +Inf
  std::atomic<double> sum_{0.0};
};

namespace detail {

class FamilyBase {
public:
  virtual ~FamilyBase() = default;
  // Appends HELP, TYPE and every sample. Runs on the scraping thread.
  virtual void render(std::string& out) const = 0;
};

}  // namespace detail

class Registry;

// The metrics of one name, one child per distinct set of label values.
template <class Metric>
class Family final : public detail::FamilyBase {
public:
  // The child with these label values (one per label name), created on first use; takes
  // the family's mutex. Once the family holds its maximum of children, new label values
  // get the shared child whose values are all "other", and the overflow is counted.
  Metric& with(const LabelValues& values);

  // How often with() returned the "other" child for new label values.
  std::uint64_t overflows() const noexcept { return overflows_ ? overflows_->value() : 0; }

  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

  void render(std::string& out) const override;

private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<Metric>()> make, std::size_t max_children, Counter* overflows);

  Metric& find_or_add(const LabelValues& values);  // with mutex_ held

  struct Child {
    LabelValues values;
    std::unique_ptr<Metric> metric;
  };

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Metric>()> make_;
  const std::size_t max_children_;
  Counter* const overflows_;  // null for the registry's own overflow family

  mutable std::mutex mutex_;
  std::vector<Child> children_;  // in creation order, the order of rendering
  std::map<LabelValues, Metric*> index_;
};

// (label values, value) pairs, appended by a labelled gauge_function callback.
using LabelledValues = std::vector<std::pair<LabelValues, double>>;

class Registry {
public:
  // `max_children`: the bound on distinct label sets per family (see Family::with).
  explicit Registry(std::size_t max_children = 1000);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Without label names: the family's one metric. With them: the family, whose children
  // come from with().
  Counter& counter(std::string_view name, std::string_view help);
  Family<Counter>& counter(std::string_view name, std::string_view help, std::vector<std::string> label_names);
  Gauge& gauge(std::string_view name, std::string_view help);
  Family<Gauge>& gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names);
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds);
  Family<Histogram>& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                               std::vector<std::string> label_names);

  // Gauges computed at scrape time. The callbacks run on the scraping thread, inside
  // prometheus_text() and under the registry's mutex: they must be thread-safe with
  // respect to what they read, and must not register metrics. A labelled callback
  // appends one pair per child; pairs with the wrong number of values, or values already
  // given, are dropped.
  void gauge_function(std::string_view name, std::string_view help, std::function<double()> value);
  void gauge_function(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                      std::function<void(LabelledValues&)> collect);

  // Every family in registration order, every child even at zero (so that rate() works
  // from the first scrape), then baton_metrics_overflows_total{family} for each labelled
  // family.
  std::string prometheus_text() const;

private:
  // Validates the names and claims the family's sample names; with mutex_ held.
  void reserve(std::string_view name, const std::vector<std::string>& label_names, bool histogram);
  template <class Metric>
  Family<Metric>& add(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                      std::function<std::unique_ptr<Metric>()> make);

  const std::size_t max_children_;
  mutable std::mutex mutex_;
  std::set<std::string, std::less<>> series_names_;  // every sample name in use
  std::vector<std::unique_ptr<detail::FamilyBase>> families_;
  std::unique_ptr<Family<Counter>> overflows_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace baton::core::metrics
