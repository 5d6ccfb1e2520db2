// Who may call baton-proxy's admin endpoint: bearer tokens from the configuration
// (admin.token, admin.tokens), replaceable while the process runs.
//
// Which requests need a token is a rule of its own (token_required): every state change
// (any method but GET and HEAD), and everything when the listener is reachable from
// other hosts. A token presented is always checked, even where none is needed, so that
// a stale one shows up at once.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::proxy {

enum class AuthStatus {
  anonymous,  // no bearer token in the request
  granted,    // one of the configured tokens
  refused,    // a bearer token that none of them matches
};

struct AuthResult {
  AuthStatus status = AuthStatus::anonymous;
  std::string who;  // the token's name when granted: "who" of audit lines
};

// True when the request must carry a valid token: a method other than GET or HEAD, or
// a listener that is not on a loopback address.
bool token_required(http::verb method, bool loopback_listener);

// The token of an Authorization header: "Bearer abc" -> "abc" (the scheme in any case,
// RFC 6750 2.1). nullopt when the value is empty, of another scheme, or has no token.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// The configured tokens. Thread-safe: the admin thread checks while a reload replaces.
//
// Comparison takes the same time whatever is presented: the presented token and every
// configured one are hashed (SHA-256, so lengths do not matter), and each pair of
// digests is compared with CRYPTO_memcmp, against every configured token without
// stopping at a match.
class AdminAuth {
public:
  explicit AdminAuth(std::vector<core::AdminToken> tokens);

  // Requests checked from now on use these; tokens with an empty secret are ignored.
  void set_tokens(std::vector<core::AdminToken> tokens);

  // `authorization`: the request's Authorization header, empty when absent.
  AuthResult check(std::string_view authorization) const;

  bool has_tokens() const;

private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    std::string name;
    Digest digest;
  };
  using Entries = std::vector<Entry>;

  static Digest digest_of(std::string_view secret);
  std::shared_ptr<const Entries> entries() const;

  mutable std::mutex mutex_;  // guards the pointer only: a check works on its own copy
  std::shared_ptr<const Entries> entries_;
};

}  // namespace baton::proxy
