// The admin listener against hostile callers, beyond admin_test.cpp: every state change
// (force release, drain) refused without a valid bearer token, however it is presented,
// and by the wrong method; and none of them changes anything. admin_test.cpp has the
// 401/403/405 answers themselves and the non-loopback start refusal.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

// A baton whose /sse route needs the session's lease (memory backend).
ProxySettings leased(std::uint16_t engine_port, std::string admin_extra) {
  ProxySettings settings{.upstream_port = engine_port};
  settings.admin_extra = std::move(admin_extra);
  settings.extra_yaml = "session: { sources: [ { header: X-Session-Id } ] }\n"
                        "routes: [ { match: { prefix: /sse }, lease: required, sse_done: { event: done } } ]\n";
  return settings;
}

// One admin request on a fresh connection, with an Authorization value when not empty.
http::status admin(const BatonProxy& proxy, http::verb method, std::string target, std::string authorization = {}) {
  auto request = make_admin_request(method, std::move(target));
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  HttpClient client(proxy.admin_port());
  return client.request(std::move(request)).result();
}

// An event stream that holds session "held" until the engine lets it go on.
void hold_session(HttpClient& client) {
  auto request = make_request(http::verb::get, "/sse?events=2&hold=1");
  request.set("X-Session-Id", "held");
  client.send(std::move(request));
  REQUIRE(client.read_response_head().result() == http::status::ok);
  REQUIRE(client.read_event().has_value());
}

struct Attempt {
  http::verb method;
  std::string target;
  std::string authorization;
  http::status refused_with;
};

// Mutations with no, a wrong, or a mispresented token, and by the wrong method.
// A token that matches none configured is refused (403) also when none is configured.
std::vector<Attempt> hostile_attempts() {
  using enum http::status;
  const auto no_token = unauthorized;
  const auto bad_token = forbidden;
  std::vector<Attempt> attempts;
  for (const std::string target : {"/leases/held", "/drain"}) {
    const auto method = target == "/drain" ? http::verb::post : http::verb::delete_;
    attempts.push_back({method, target, "", no_token});
    attempts.push_back({method, target, "Bearer not-the-token", bad_token});
    attempts.push_back({method, target, "Bearer s3cre", bad_token});     // a prefix of the token
    attempts.push_back({method, target, "Bearer s3cret2", bad_token});   // the token and more
    attempts.push_back({method, target, "Bearer S3CRET", bad_token});    // tokens are case-sensitive
    attempts.push_back({method, target, "Basic czNjcmV0", no_token});    // another scheme
    attempts.push_back({method, target, "s3cret", no_token});            // no scheme
    attempts.push_back({method, target, "Bearer", no_token});            // no token
    attempts.push_back({method, target + "?token=s3cret", "", no_token});  // not read from the query
  }
  attempts.push_back({http::verb::get, "/drain", "", method_not_allowed});  // GET never changes state
  return attempts;
}

}  // namespace

TEST_SUITE("admin listener") {
  TEST_CASE("no state change without a valid token or by the wrong method: the lease stays, no drain") {
    for (const bool tokens_configured : {true, false}) {
      CAPTURE(tokens_configured);
      TestEngine engine;
      BatonProxy proxy(leased(engine.port(), tokens_configured ? "  tokens:\n    - { name: alice, token: s3cret }\n" : ""));
      HttpClient stream(proxy.port());
      hold_session(stream);

      for (const auto& attempt : hostile_attempts()) {
        CAPTURE(attempt.method);
        CAPTURE(attempt.target);
        CAPTURE(attempt.authorization);
        CHECK(admin(proxy, attempt.method, attempt.target, attempt.authorization) == attempt.refused_with);
      }
      // With the right token, a wrong method is still no way in.
      if (tokens_configured) {
        CHECK(admin(proxy, http::verb::put, "/drain", "Bearer s3cret") == http::status::method_not_allowed);
        CHECK(admin(proxy, http::verb::post, "/leases/held", "Bearer s3cret") == http::status::method_not_allowed);
      }

      CHECK(admin(proxy, http::verb::get, "/leases/held") == http::status::ok);  // still held
      CHECK(admin(proxy, http::verb::get, "/readyz") == http::status::ok);       // not draining
      CHECK(port_accepts(proxy.port()));
      if (tokens_configured) {
        CHECK(admin(proxy, http::verb::delete_, "/leases/held", "Bearer s3cret") == http::status::ok);
        CHECK(admin(proxy, http::verb::get, "/leases/held") == http::status::not_found);
      }
      engine.release_hold();
      while (stream.read_event()) {
      }
    }
  }
}

}  // namespace baton::test
