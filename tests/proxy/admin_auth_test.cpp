#include "baton/proxy/admin_auth.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

namespace baton::proxy {
namespace {

std::vector<core::AdminToken> tokens(std::initializer_list<std::pair<const char*, const char*>> entries) {
  std::vector<core::AdminToken> out;
  for (const auto& [name, secret] : entries) out.push_back({name, secret});
  return out;
}

}  // namespace

TEST_SUITE("admin auth") {
  TEST_CASE("a token is needed for state changes, and for everything off loopback") {
    CHECK_FALSE(token_required(http::verb::get, true));
    CHECK_FALSE(token_required(http::verb::head, true));
    CHECK(token_required(http::verb::post, true));
    CHECK(token_required(http::verb::delete_, true));
    CHECK(token_required(http::verb::put, true));
    CHECK(token_required(http::verb::get, false));
    CHECK(token_required(http::verb::head, false));
  }

  TEST_CASE("the bearer token of an Authorization field") {
    CHECK(bearer_token("Bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("BEARER   abc  ") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("\tBearer\tabc") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(bearer_token("").has_value());
    CHECK_FALSE(bearer_token("Bearer").has_value());
    CHECK_FALSE(bearer_token("Bearer   ").has_value());
    CHECK_FALSE(bearer_token("Basic YWxpY2U6c2VjcmV0").has_value());
    CHECK_FALSE(bearer_token("Bearerabc").has_value());
  }

  TEST_CASE("a configured token is granted under its name; anything else is refused") {
    const AdminAuth auth(tokens({{"alice", "s3cret"}, {"bob", "other-secret"}}));
    CHECK(auth.has_tokens());

    const AuthResult alice = auth.check("Bearer s3cret");
    CHECK(alice.status == AuthStatus::granted);
    CHECK(alice.who == "alice");
    const AuthResult bob = auth.check("Bearer other-secret");
    CHECK(bob.status == AuthStatus::granted);
    CHECK(bob.who == "bob");

    CHECK(auth.check("Bearer s3cre").status == AuthStatus::refused);    // a prefix
    CHECK(auth.check("Bearer s3cret2").status == AuthStatus::refused);  // longer
    CHECK(auth.check("Bearer S3CRET").status == AuthStatus::refused);   // secrets are case-sensitive
    CHECK(auth.check("Bearer alice").status == AuthStatus::refused);    // a name is no secret
    CHECK(auth.check("Bearer s3cret").who == "alice");
    CHECK(auth.check("").status == AuthStatus::anonymous);
    CHECK(auth.check("Basic s3cret").status == AuthStatus::anonymous);
  }

  TEST_CASE("two entries with one secret: the first one's name") {
    const AdminAuth auth(tokens({{"first", "same"}, {"second", "same"}}));
    CHECK(auth.check("Bearer same").who == "first");
  }

  TEST_CASE("empty secrets are never accepted") {
    const AdminAuth auth(tokens({{"unset", ""}}));
    CHECK_FALSE(auth.has_tokens());
    CHECK(auth.check("Bearer ").status == AuthStatus::anonymous);
    CHECK(auth.check("Bearer x").status == AuthStatus::refused);
  }

  TEST_CASE("without tokens, every bearer token is refused") {
    const AdminAuth auth({});
    CHECK_FALSE(auth.has_tokens());
    CHECK(auth.check("Bearer anything").status == AuthStatus::refused);
  }

  TEST_CASE("set_tokens replaces the tokens for the next check") {
    AdminAuth auth(tokens({{"old", "old-secret"}}));
    auth.set_tokens(tokens({{"new", "new-secret"}}));
    CHECK(auth.check("Bearer old-secret").status == AuthStatus::refused);
    CHECK(auth.check("Bearer new-secret").who == "new");
  }

  TEST_CASE("checks on one thread while another replaces the tokens") {
    AdminAuth auth(tokens({{"a", "secret-a"}}));
    std::atomic<bool> checking{true};
    std::atomic<int> replacements{0};
    std::thread reloader([&] {
      for (int i = 0; checking; ++i) {
        auth.set_tokens(i % 2 == 0 ? tokens({{"b", "secret-b"}, {"a", "secret-a"}}) : tokens({{"a", "secret-a"}}));
        ++replacements;
      }
    });
    // "a" is in every set of tokens, so it is granted whichever set is current.
    bool always_granted = true;
    for (int i = 0; i < 20000 || replacements < 100; ++i) always_granted &= auth.check("Bearer secret-a").who == "a";
    checking = false;
    reloader.join();
    CHECK(always_granted);
  }
}

}  // namespace baton::proxy
