// Delays between reconnection attempts: capped exponential growth with full jitter, so
// that the workers of many batons do not reconnect in lockstep after a Redis restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace baton::redis {

class Backoff {
public:
  using Duration = std::chrono::steady_clock::duration;

  Backoff(Duration min, Duration max, std::uint64_t seed);

  // Uniform in [min, ceiling]; the ceiling starts at twice min and doubles with each
  // call, up to max.
  Duration next();
  // After a successful connection: the ceiling starts over.
  void reset();

private:
  Duration min_;
  Duration max_;
  Duration ceiling_;
  std::mt19937_64 random_;
};

}  // namespace baton::redis
