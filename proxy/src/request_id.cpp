#include "baton/proxy/request_id.hpp"

#include <random>

namespace baton::proxy {

RequestIdGenerator::RequestIdGenerator() {
  std::random_device device;
  state_ = (std::uint64_t{device()} << 32) ^ device();
}

// splitmix64: fast, and every seed gives a full-period sequence.
std::uint64_t RequestIdGenerator::next_word() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

RequestId RequestIdGenerator::next() {
  static constexpr char hex[] = "0123456789abcdef";
  RequestId id(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t word = next_word();
    for (int i = 0; i < 16; ++i, word >>= 4) id[half * 16 + i] = hex[word & 0xf];
  }
  return id;
}

}  // namespace baton::proxy
