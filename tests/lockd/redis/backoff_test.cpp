#include "redis/backoff.hpp"

#include <doctest/doctest.h>

#include <chrono>

namespace {

using baton::redis::Backoff;
using namespace std::chrono_literals;

}  // namespace

TEST_SUITE("redis backoff") {
  TEST_CASE("delays stay between min and a ceiling that doubles up to max") {
    Backoff backoff(50ms, 2s, 1);
    auto ceiling = Backoff::Duration(100ms);
    for (int attempt = 0; attempt < 20; ++attempt) {
      CAPTURE(attempt);
      const auto delay = backoff.next();
      CHECK(delay >= 50ms);
      CHECK(delay <= ceiling);
      ceiling = std::min<Backoff::Duration>(ceiling * 2, 2s);
    }
  }

  TEST_CASE("delays are spread by full jitter rather than one value per attempt") {
    Backoff::Duration smallest = 1h;
    Backoff::Duration largest = 0s;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
      Backoff backoff(50ms, 2s, seed);
      for (int i = 0; i < 10; ++i) backoff.next();
      const auto delay = backoff.next();
      smallest = std::min(smallest, delay);
      largest = std::max(largest, delay);
    }
    CHECK(largest - smallest > 1s);
  }

  TEST_CASE("reset starts the ceiling over") {
    Backoff backoff(10ms, 10s, 7);
    for (int i = 0; i < 30; ++i) backoff.next();
    backoff.reset();
    CHECK(backoff.next() <= 20ms);
  }

  TEST_CASE("max below min is taken as min") {
    Backoff backoff(100ms, 10ms, 3);
    CHECK(backoff.next() == 100ms);
  }
}
