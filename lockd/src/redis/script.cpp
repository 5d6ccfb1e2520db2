#include "baton/redis/client.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace baton::redis {
namespace {

// Redis names a script by the SHA-1 of its source, in lower-case hex.
std::string sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("SHA-1 unavailable in OpenSSL");
  static constexpr char hex[] = "0123456789abcdef";
  std::string result;
  result.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    result += hex[digest[i] >> 4];
    result += hex[digest[i] & 0xf];
  }
  return result;
}

}  // namespace

Script::Script(std::string source_text) : source(std::move(source_text)), sha1(sha1_hex(source)) {}

}  // namespace baton::redis
