#include "baton/proxy/admin_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <stdexcept>

namespace baton::proxy {
namespace {

constexpr std::string_view bearer_scheme = "bearer";

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool equals_ignoring_case(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != lower[i]) return false;
  }
  return true;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

bool token_required(http::verb method, bool loopback_listener) {
  const bool reads_only = method == http::verb::get || method == http::verb::head;
  return !reads_only || !loopback_listener;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  authorization = trimmed(authorization);
  const auto space = authorization.find_first_of(" \t");
  if (space == std::string_view::npos) return std::nullopt;
  if (!equals_ignoring_case(authorization.substr(0, space), bearer_scheme)) return std::nullopt;
  const auto token = trimmed(authorization.substr(space));
  if (token.empty()) return std::nullopt;
  return token;
}

AdminAuth::AdminAuth(std::vector<core::AdminToken> tokens) { set_tokens(std::move(tokens)); }

void AdminAuth::set_tokens(std::vector<core::AdminToken> tokens) {
  auto entries = std::make_shared<Entries>();
  for (auto& token : tokens) {
    if (token.secret.empty()) continue;
    entries->push_back({std::move(token.name), digest_of(token.secret)});
  }
  const std::lock_guard lock(mutex_);
  entries_ = std::move(entries);
}

std::shared_ptr<const AdminAuth::Entries> AdminAuth::entries() const {
  const std::lock_guard lock(mutex_);
  return entries_;
}

bool AdminAuth::has_tokens() const { return !entries()->empty(); }

AuthResult AdminAuth::check(std::string_view authorization) const {
  const auto token = bearer_token(authorization);
  if (!token) return {};
  const Digest presented = digest_of(*token);
  const auto configured = entries();
  // Every entry is compared, and the first match is picked arithmetically: neither the
  // time taken nor the branches followed depend on which entry matched, if any.
  std::size_t first_match = 0;  // index + 1; 0 for none
  for (std::size_t i = 0; i < configured->size(); ++i) {
    const Digest& expected = (*configured)[i].digest;
    const auto equal =
        static_cast<std::size_t>(CRYPTO_memcmp(presented.data(), expected.data(), presented.size()) == 0);
    const auto take = equal & static_cast<std::size_t>(first_match == 0);
    first_match |= (i + 1) * take;
  }
  if (first_match == 0) return {.status = AuthStatus::refused, .who = {}};
  return {.status = AuthStatus::granted, .who = (*configured)[first_match - 1].name};
}

AdminAuth::Digest AdminAuth::digest_of(std::string_view secret) {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(secret.data(), secret.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size())
    throw std::runtime_error("admin tokens: SHA-256 is not available from OpenSSL");
  return digest;
}

}  // namespace baton::proxy
