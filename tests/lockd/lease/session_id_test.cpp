#include "baton/lease/lease_store.hpp"

#include "baton/lease/token.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using baton::lease::is_valid_session_id;

TEST_CASE("session ids: the characters and lengths that become Redis keys") {
  CHECK(is_valid_session_id("a"));
  CHECK(is_valid_session_id("3f9c2a1e-7b44-4c1d-9a2e-5d6f7a8b9c0d"));
  CHECK(is_valid_session_id("user@example.com:cart/42"));
  CHECK(is_valid_session_id("dGhlIHNlc3Npb24=+/"));  // base64
  CHECK(is_valid_session_id("A.Z_0-9"));
  CHECK(is_valid_session_id(std::string(128, 'x')));

  CHECK_FALSE(is_valid_session_id(""));
  CHECK_FALSE(is_valid_session_id(std::string(129, 'x')));
}

TEST_CASE("session ids: nothing that could split or glob or escape a Redis key passes") {
  const std::vector<std::string> rejected = {
      "with space",  " leading",    "trailing ",   "new\nline",  "carriage\rreturn",
      "tab\there",   "bell\a",      "delete\x7f",  "brace{",     "brace}",
      "{hash-tag}",  "star*",       "question?",   "bracket[",   "bracket]",
      "caret^",      "back\\slash", "quote\"",     "apostrophe'", "semicolon;",
      "comma,",      "percent%",    "hash#",       "dollar$",    "ampersand&",
      "caf\xc3\xa9", "\xe2\x80\x8b", "\xff",
  };
  for (const std::string& session : rejected) {
    INFO("session id: '" << session << "'");
    CHECK_FALSE(is_valid_session_id(session));
  }
  CHECK_FALSE(is_valid_session_id(std::string("nul\0inside", 10)));
  CHECK_FALSE(is_valid_session_id(std::string(1, '\0')));
}

TEST_CASE("lease tokens: 32 lower-case hex characters that never repeat across threads") {
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::mutex mutex;
  std::set<std::string> seen;
  std::vector<std::thread> makers;
  for (int t = 0; t < threads; ++t) {
    makers.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < per_thread; ++i) mine.push_back(baton::lease::make_lease_token());
      std::lock_guard lock(mutex);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (auto& maker : makers) maker.join();
  CHECK(seen.size() == threads * per_thread);
  for (const std::string& token : seen) {
    REQUIRE(token.size() == baton::lease::lease_token_size);
    REQUIRE(token.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
}

}  // namespace
