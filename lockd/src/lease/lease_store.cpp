#include "baton/lease/lease_store.hpp"

#include "baton/lease/token.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace baton::lease {
namespace {

constexpr std::size_t max_session_id_size = 128;

constexpr std::array<bool, 256> session_id_characters() {
  std::array<bool, 256> allowed{};
  for (char c = 'a'; c <= 'z'; ++c) allowed[static_cast<unsigned char>(c)] = true;
  for (char c = 'A'; c <= 'Z'; ++c) allowed[static_cast<unsigned char>(c)] = true;
  for (char c = '0'; c <= '9'; ++c) allowed[static_cast<unsigned char>(c)] = true;
  for (char c : std::string_view("._:@=+/-")) allowed[static_cast<unsigned char>(c)] = true;
  return allowed;
}

constexpr auto session_id_allowed = session_id_characters();

// Random bytes from getrandom(2), 16 tokens' worth per system call.
class RandomBuffer {
public:
  void take(unsigned char* out, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      if (next_ == bytes_.size()) refill();
      out[i] = bytes_[next_++];
    }
  }

private:
  void refill() {
    std::size_t filled = 0;
    while (filled < bytes_.size()) {
      const ssize_t got = ::getrandom(bytes_.data() + filled, bytes_.size() - filled, 0);
      if (got < 0 && errno == EINTR) continue;
      // Linux >= 3.17 always has getrandom, and it does not fail for this size once the
      // pool is seeded (it blocks until then, at boot only).
      if (got < 0) throw std::system_error(errno, std::generic_category(), "getrandom");
      filled += static_cast<std::size_t>(got);
    }
    next_ = 0;
  }

  std::array<unsigned char, 256> bytes_{};
  std::size_t next_ = bytes_.size();
};

}  // namespace

bool is_valid_session_id(std::string_view session) {
  if (session.empty() || session.size() > max_session_id_size) return false;
  for (char c : session) {
    if (!session_id_allowed[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

std::string make_lease_token() {
  thread_local RandomBuffer random;
  static constexpr char hex[] = "0123456789abcdef";
  std::array<unsigned char, lease_token_size / 2> bits;
  random.take(bits.data(), bits.size());
  std::string token(lease_token_size, '0');
  for (std::size_t i = 0; i < bits.size(); ++i) {
    token[2 * i] = hex[bits[i] >> 4];
    token[2 * i + 1] = hex[bits[i] & 0xf];
  }
  return token;
}

}  // namespace baton::lease
