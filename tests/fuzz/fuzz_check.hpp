// Shared by the fuzz targets of tests/fuzz: an assertion that holds in every build type
// (NDEBUG does not turn it off) and a reader that takes the control bytes off the front
// of an input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// A broken invariant aborts, so that libFuzzer saves the input as a crash and the corpus
// replay of ctest fails on it.
#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) ::baton::fuzz::check_failed(#condition, __FILE__, __LINE__);           \
  } while (false)

namespace baton::fuzz {

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, condition);
  std::abort();
}

// The input as control bytes first and payload after. A missing control byte reads as 0,
// so that every input, even an empty one, is a valid case.
class Input {
public:
  Input(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto value = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return value;
  }

  // Everything not taken yet.
  std::string_view rest() const { return rest_; }

private:
  std::string_view rest_;
};

// Deterministic cut points derived from the input (splitmix64), for feeding a stream in
// pieces the way a socket hands them over.
class Cuts {
public:
  explicit Cuts(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // The length of the next piece: mostly short, sometimes empty, now and then long.
  std::size_t piece_length(std::size_t remaining) {
    const auto roll = next();
    std::size_t length = 0;
    switch (roll % 8) {
      case 0: length = 0; break;
      case 1: case 2: case 3: length = 1 + (roll >> 8) % 3; break;
      case 4: case 5: length = 1 + (roll >> 8) % 16; break;
      case 6: length = 1 + (roll >> 8) % 256; break;
      default: length = remaining; break;
    }
    return length < remaining ? length : remaining;
  }

private:
  std::uint64_t state_;
};

}  // namespace baton::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
