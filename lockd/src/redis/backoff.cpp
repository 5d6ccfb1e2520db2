#include "backoff.hpp"

#include <algorithm>

namespace baton::redis {

Backoff::Backoff(Duration min, Duration max, std::uint64_t seed)
    : min_(std::max(min, Duration::zero())), max_(std::max(max, min_)), random_(seed) {
  reset();
}

void Backoff::reset() { ceiling_ = min_ >= max_ / 2 ? max_ : std::max(min_ * 2, Duration(1)); }

Backoff::Duration Backoff::next() {
  std::uniform_int_distribution<Duration::rep> pick(min_.count(), ceiling_.count());
  const Duration delay(pick(random_));
  ceiling_ = ceiling_ >= max_ / 2 ? max_ : std::max(ceiling_ * 2, Duration(1));
  return delay;
}

}  // namespace baton::redis
