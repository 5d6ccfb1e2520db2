#include "baton/proxy/session_id.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace baton;
using namespace baton::proxy;
using core::SessionSource;
using core::SessionSourceKind;

namespace {

// `count` copies of `fill`, then `tail`. Built by appending: g++ 12 at -O2 warns
// (-Warray-bounds, wrongly) on operator+ of a long temporary and a literal.
std::string padded(std::size_t count, char fill, std::string_view tail) {
  std::string text(count, fill);
  text.append(tail);
  return text;
}

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

SessionSource header(std::string name) { return {SessionSourceKind::header, std::move(name)}; }
SessionSource cookie(std::string name) { return {SessionSourceKind::cookie, std::move(name)}; }
SessionSource query(std::string name) { return {SessionSourceKind::query, std::move(name)}; }
SessionSource json(std::string pointer) { return {SessionSourceKind::json, std::move(pointer)}; }
SessionSource path(std::string regex) { return {SessionSourceKind::path, std::move(regex)}; }

SessionIdExtractor extractor(std::vector<SessionSource> sources, std::string pattern = core::SessionConfig{}.pattern) {
  core::SessionConfig config;
  config.sources = std::move(sources);
  config.pattern = std::move(pattern);
  return SessionIdExtractor(config);
}

RequestHeader request(std::string_view target, Fields fields = {}) {
  RequestHeader request;
  request.method(http::verb::post);
  request.target(target);
  request.version(11);
  for (auto [name, value] : fields) request.insert(name, value);
  return request;
}

// The id, or "<missing>", or "<invalid>": one string to compare per case.
std::string outcome(const SessionIdExtractor& extractor, const RequestHeader& request, std::string_view body = {}) {
  const SessionIdResult result = extractor.extract(request, body);
  switch (result.status) {
    case SessionIdStatus::found:
      return result.id;
    case SessionIdStatus::missing:
      return "<missing>";
    case SessionIdStatus::invalid:
      return "<invalid>";
  }
  return "<?>";
}

std::string from_query(std::string_view target) { return outcome(extractor({query("sid")}), request(target)); }
std::string from_cookies(Fields fields) { return outcome(extractor({cookie("sid")}), request("/", fields)); }
std::string from_body(std::string_view pointer, std::string_view body) {
  return outcome(extractor({json(std::string(pointer))}), request("/"), body);
}

}  // namespace

TEST_SUITE("session id") {

  TEST_CASE("header: the named field, case-insensitively, its first value") {
    const auto sessions = extractor({header("X-Session-Id")});
    CHECK(outcome(sessions, request("/", {{"x-session-id", "abc-1"}})) == "abc-1");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "first"}, {"X-Session-Id", "second"}})) == "first");
    CHECK(outcome(sessions, request("/", {{"X-Session", "abc"}})) == "<missing>");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", ""}})) == "<missing>");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "a b"}})) == "<invalid>");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "a%3Ab"}})) == "<invalid>");  // headers are not decoded
  }

  TEST_CASE("the result names its source; an invalid result carries a reason and no id") {
    const auto sessions = extractor({query("sid"), header("X-Session-Id")});
    const SessionIdResult good = sessions.extract(request("/", {{"X-Session-Id", "abc"}}), {});
    CHECK(good.status == SessionIdStatus::found);
    CHECK(good.source == SessionSourceKind::header);
    CHECK(good.source_name == "X-Session-Id");
    CHECK(good.reason.empty());

    const SessionIdResult bad = sessions.extract(request("/?sid={x}"), {});
    CHECK(bad.status == SessionIdStatus::invalid);
    CHECK(bad.source == SessionSourceKind::query);
    CHECK(bad.source_name == "sid");
    CHECK(bad.id.empty());
    CHECK(bad.reason == "does not match session.pattern");

    const SessionIdResult none = sessions.extract(request("/"), {});
    CHECK(none.status == SessionIdStatus::missing);
    CHECK(none.id.empty());
  }

  TEST_CASE("cookie: pairs of every Cookie field, exact names, first match") {
    CHECK(from_cookies({{"Cookie", "sid=abc"}}) == "abc");
    CHECK(from_cookies({{"Cookie", "a=1; sid=abc; b=2"}}) == "abc");
    CHECK(from_cookies({{"Cookie", "a=1;sid=abc"}}) == "abc");
    CHECK(from_cookies({{"Cookie", "a=1 ;  sid = abc ; b=2"}}) == "abc");
    CHECK(from_cookies({{"Cookie", "a=1"}, {"Cookie", "sid=second-field"}}) == "second-field");
    CHECK(from_cookies({{"Cookie", "sid=first"}, {"Cookie", "sid=second"}}) == "first");
    CHECK(from_cookies({{"Cookie", "sid=first; sid=second"}}) == "first");
    CHECK(from_cookies({{"Cookie", "x=1"}}) == "<missing>");
    CHECK(from_cookies({}) == "<missing>");
  }

  TEST_CASE("cookie: names that contain or extend the name do not match") {
    CHECK(from_cookies({{"Cookie", "sidx=wrong; xsid=wrong; sid=right"}}) == "right");
    CHECK(from_cookies({{"Cookie", "si=wrong; SID=wrong"}}) == "<missing>");
    CHECK(from_cookies({{"Cookie", "a=sid=wrong"}}) == "<missing>");
    CHECK(from_cookies({{"Cookie", "sid; a=1"}}) == "<missing>");
  }

  TEST_CASE("cookie: quoted values are unquoted, '=' inside a value is kept, no decoding") {
    CHECK(from_cookies({{"Cookie", "sid=\"abc\""}}) == "abc");
    CHECK(from_cookies({{"Cookie", "sid=\"\""}}) == "<missing>");
    CHECK(from_cookies({{"Cookie", "sid=\""}}) == "<invalid>");
    CHECK(from_cookies({{"Cookie", "sid=a=b"}}) == "<invalid>");
    CHECK(from_cookies({{"Cookie", "sid=a%3Ab"}}) == "<invalid>");
    CHECK(from_cookies({{"Cookie", "sid=; other=1"}}) == "<missing>");
  }

  TEST_CASE("query: the first pair of the key, percent-decoded, '+' as space") {
    CHECK(from_query("/chat?sid=abc") == "abc");
    CHECK(from_query("/chat?a=1&sid=abc&b=2") == "abc");
    CHECK(from_query("/chat?sid=first&sid=second") == "first");
    CHECK(from_query("/chat?sid=a%3Ab%2d1") == "a:b-1");
    CHECK(from_query("/chat?s%69d=abc") == "abc");  // the key is decoded too
    CHECK(from_query("/chat?sid=a+b") == "<invalid>");
    CHECK(from_query("/chat?sid=a%2Bb") == "<invalid>");  // '+', not allowed by the pattern
  }

  TEST_CASE("query: absent, empty and encoded separators") {
    CHECK(from_query("/chat") == "<missing>");
    CHECK(from_query("/chat?") == "<missing>");
    CHECK(from_query("/chat?sid") == "<missing>");
    CHECK(from_query("/chat?sid=") == "<missing>");
    CHECK(from_query("/chat?sid=&sid=abc") == "<missing>");  // the first pair decides
    CHECK(from_query("/chat?&&sid=abc&") == "abc");
    CHECK(from_query("/chat?sidx=1&xsid=2") == "<missing>");
    CHECK(from_query("/chat?a=1%26sid%3Dhidden") == "<missing>");  // encoded '&' and '=' do not split
    CHECK(from_query("/chat?sid=a%26b") == "<invalid>");
    CHECK(from_query("/chat?sid%3Dx=abc") == "<missing>");
    CHECK(from_query("/chat?next=/a?sid=abc") == "<missing>");
  }

  TEST_CASE("query: malformed escapes make the id invalid, elsewhere they are skipped") {
    CHECK(from_query("/chat?sid=ab%zz") == "<invalid>");
    CHECK(from_query("/chat?sid=ab%4") == "<invalid>");
    CHECK(from_query("/chat?sid=ab%") == "<invalid>");
    CHECK(from_query("/chat?bad%zz=1&sid=abc") == "abc");
    CHECK(from_query("/chat?sid%=1&sid=abc") == "abc");
    const SessionIdResult result = extractor({query("sid")}).extract(request("/?sid=%G0"), {});
    CHECK(result.reason == "malformed percent-encoding");
  }

  TEST_CASE("json: the value at the pointer, a string or an integer") {
    CHECK(from_body("/sessionId", R"({"sessionId":"abc"})") == "abc");
    CHECK(from_body("/meta/session/id", R"({"meta":{"session":{"id":"deep"}}})") == "deep");
    CHECK(from_body("/items/1", R"({"items":["a","b"]})") == "b");
    CHECK(from_body("/sessionId", R"({"sessionId":42})") == "42");
    CHECK(from_body("/sessionId", R"({"sessionId":-7})") == "-7");
    CHECK(from_body("/sessionId", R"({"sessionId":18446744073709551615})") == "18446744073709551615");
    CHECK(from_body("/sessionId", R"({"sessionId":"a\u003Ab"})") == "a:b");
    CHECK(from_body("", R"("whole")") == "whole");
  }

  TEST_CASE("json: escaped pointer tokens ~0 and ~1") {
    CHECK(from_body("/a~1b", R"({"a/b":"slash","a":{"b":"wrong"}})") == "slash");
    CHECK(from_body("/a~0b", R"({"a~b":"tilde"})") == "tilde");
    CHECK(from_body("/~01", R"({"~1":"order","/":"wrong"})") == "order");
  }

  TEST_CASE("json: absent, null, empty or unusable values") {
    CHECK(from_body("/sessionId", R"({"other":"abc"})") == "<missing>");
    CHECK(from_body("/sessionId", R"({"sessionId":null})") == "<missing>");
    CHECK(from_body("/sessionId", R"({"sessionId":""})") == "<missing>");
    CHECK(from_body("/sessionId", "") == "<missing>");
    CHECK(from_body("/sessionId", R"({"sessionId":1.5})") == "<invalid>");
    CHECK(from_body("/sessionId", R"({"sessionId":1e3})") == "<invalid>");
    CHECK(from_body("/sessionId", R"({"sessionId":true})") == "<invalid>");
    CHECK(from_body("/sessionId", R"({"sessionId":{"id":"abc"}})") == "<invalid>");
    CHECK(from_body("/sessionId", R"({"sessionId":"a b"})") == "<invalid>");
    CHECK(from_body("/sessionId", R"({"sessionId":"a\u0000b"})") == "<invalid>");
  }

  TEST_CASE("json: a body that is not a JSON object counts as missing") {
    CHECK(from_body("/sessionId", "sessionId=abc") == "<missing>");
    CHECK(from_body("/sessionId", R"({"sessionId":"abc")") == "<missing>");     // truncated
    CHECK(from_body("/sessionId", R"({"sessionId":"abc"} x)") == "<missing>");  // trailing bytes
    CHECK(from_body("/sessionId", R"(["abc"])") == "<missing>");
    CHECK(from_body("/sessionId", R"("abc")") == "<missing>");
    CHECK(from_body("/sessionId", std::string("\0{}", 3)) == "<missing>");
  }

  TEST_CASE("json: deep nesting neither recurses nor crashes") {
    constexpr int depth = 200000;
    const std::string nested = std::string(depth, '[') + std::string(depth, ']');
    CHECK(from_body("/sessionId", nested) == "<missing>");
    const std::string objects = R"({"sessionId":"abc","x":)" + nested + "}";
    CHECK(from_body("/sessionId", objects) == "abc");
  }

  TEST_CASE("json: only json sources need the body") {
    CHECK(extractor({json("/sessionId")}).needs_body());
    CHECK(extractor({header("X-Session-Id"), json("/sessionId")}).needs_body());
    CHECK_FALSE(extractor({header("X-Session-Id"), cookie("sid"), query("sid"), path("^/s/([^/]+)")}).needs_body());
    core::SessionConfig config;
    config.max_json_body = 1234;
    CHECK(SessionIdExtractor(config).max_json_body() == 1234);
  }

  TEST_CASE("path: the first capture group, searched in the path, percent-decoded") {
    const auto sessions = extractor({path("^/sessions/([^/]+)")});
    CHECK(outcome(sessions, request("/sessions/abc")) == "abc");
    CHECK(outcome(sessions, request("/sessions/abc/messages?x=1")) == "abc");
    CHECK(outcome(sessions, request("/sessions/a%3Ab")) == "a:b");
    CHECK(outcome(sessions, request("/sessions/a+b")) == "<invalid>");  // '+' stays '+' in a path
    CHECK(outcome(sessions, request("/sessions/a%2Fb/x")) == "<invalid>");  // an encoded '/' does not split
    CHECK(outcome(sessions, request("/sessions/a%zz")) == "<invalid>");
    CHECK(outcome(sessions, request("/sessions/")) == "<missing>");
    CHECK(outcome(sessions, request("/v1/sessions/abc")) == "<missing>");
    CHECK(outcome(sessions, request("/other?path=/sessions/abc")) == "<missing>");
  }

  TEST_CASE("path: unanchored regexes find the leftmost match; only the first group counts") {
    CHECK(outcome(extractor({path("/s/([^/]+)")}), request("/v1/s/one/s/two")) == "one");
    CHECK(outcome(extractor({path("/(a+)(b)")}), request("/x/aab")) == "aa");
    const auto optional_group = extractor({path("^/s(?:/(\\w+))?$")});
    CHECK(outcome(optional_group, request("/s")) == "<missing>");
    CHECK(outcome(optional_group, request("/s/abc")) == "abc");
  }

  TEST_CASE("path: a regex without a capture group or with a back-reference is refused") {
    CHECK_THROWS_AS(extractor({path("^/sessions/[^/]+")}), std::invalid_argument);
    CHECK_THROWS_AS(extractor({path("^/(a)/\\1")}), std::invalid_argument);
  }

  TEST_CASE("sources are tried in configured order; the first non-empty value decides") {
    const auto sessions = extractor({header("X-Session-Id"), cookie("sid"), query("sid"), path("^/s/([^/]+)")});
    const RequestHeader everywhere =
        request("/s/from-path?sid=from-query", {{"X-Session-Id", "from-header"}, {"Cookie", "sid=from-cookie"}});
    CHECK(outcome(sessions, everywhere) == "from-header");
    CHECK(outcome(sessions, request("/s/from-path?sid=from-query", {{"Cookie", "sid=from-cookie"}})) == "from-cookie");
    CHECK(outcome(sessions, request("/s/from-path?sid=from-query")) == "from-query");
    CHECK(outcome(sessions, request("/s/from-path?sid=")) == "from-path");
    CHECK(outcome(sessions, request("/s/from-path", {{"X-Session-Id", ""}})) == "from-path");
    CHECK(outcome(sessions, request("/elsewhere")) == "<missing>");

    const auto reversed = extractor({path("^/s/([^/]+)"), query("sid"), cookie("sid"), header("X-Session-Id")});
    CHECK(outcome(reversed, everywhere) == "from-path");
  }

  TEST_CASE("an invalid value stops the search: a later source cannot override it") {
    const auto sessions = extractor({header("X-Session-Id"), query("sid")});
    CHECK(outcome(sessions, request("/?sid=good", {{"X-Session-Id", "bad value"}})) == "<invalid>");
    CHECK(outcome(sessions, request("/?sid=good%", {{"X-Session-Id", "ok"}})) == "ok");
  }

  TEST_CASE("json comes from the body, the other sources from the head, in one order") {
    const auto sessions = extractor({header("X-Session-Id"), json("/sessionId"), query("sid")});
    CHECK(outcome(sessions, request("/?sid=q"), R"({"sessionId":"j"})") == "j");
    CHECK(outcome(sessions, request("/?sid=q"), "") == "q");  // body not buffered
    CHECK(outcome(sessions, request("/?sid=q"), "not json") == "q");
    CHECK(outcome(sessions, request("/?sid=q", {{"X-Session-Id", "h"}}), R"({"sessionId":"j"})") == "h");
  }

  TEST_CASE("the default pattern: letters, digits and ._:- up to 128 characters") {
    const auto sessions = extractor({query("sid")});
    CHECK(sessions.is_valid_id("3f9c2a1e-7b44-4c1d-9a2e-5d6f7a8b9c0d"));
    CHECK(sessions.is_valid_id("user.42:cart_7"));
    CHECK(sessions.is_valid_id(std::string(128, 'x')));
    CHECK_FALSE(sessions.is_valid_id(std::string(129, 'x')));
    CHECK_FALSE(sessions.is_valid_id(""));
    for (std::string_view bad : {"with space", "{hash}", "brace{", "a}", "new\nline", "cr\rhere", "tab\t", "slash/",
                                 "caf\xc3\xa9", "star*", "at@x", "quote\""}) {
      INFO("id: " << bad);
      CHECK_FALSE(sessions.is_valid_id(bad));
    }
    CHECK_FALSE(sessions.is_valid_id(std::string("nul\0inside", 10)));

    CHECK(from_query("/?sid=" + std::string(128, 'x')) == std::string(128, 'x'));
    CHECK(from_query("/?sid=" + std::string(129, 'x')) == "<invalid>");
    CHECK(from_query("/?sid=a%20b") == "<invalid>");
    CHECK(from_query("/?sid=%7Bx%7D") == "<invalid>");
    CHECK(from_query("/?sid=abc%0D%0AX-Injected:%201") == "<invalid>");
    CHECK(from_query("/?sid=abc%0A") == "<invalid>");
    CHECK(from_query("/?sid=abc%00") == "<invalid>");
    CHECK(from_query("/?sid=%00") == "<invalid>");
  }

  TEST_CASE("a configured pattern is matched against the whole id") {
    const auto sessions = extractor({header("X-Session-Id")}, "[0-9]+");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "123"}})) == "123");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "123a"}})) == "<invalid>");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "a123"}})) == "<invalid>");
    const auto anchored = extractor({query("sid")}, "^[a-z]+$");
    CHECK(outcome(anchored, request("/?sid=abc")) == "abc");
    CHECK(outcome(anchored, request("/?sid=abc%0A")) == "<invalid>");  // '$' is not "before a final newline"
    CHECK(outcome(anchored, request("/?sid=abc%00")) == "<invalid>");
  }

  TEST_CASE("a pattern wider than the lease store's alphabet still refuses globs, braces and controls") {
    const auto sessions = extractor({header("X-Session-Id"), query("sid")}, "^.+$");
    CHECK(outcome(sessions, request("/", {{"X-Session-Id", "user@host/+="}})) == "user@host/+=");
    for (const char* hostile : {"*", "a?", "[a]", "{tag}", "a b", "a\tb"}) {
      CAPTURE(hostile);
      CHECK(outcome(sessions, request("/", {{"X-Session-Id", hostile}})) == "<invalid>");
    }
    CHECK(outcome(sessions, request("/?sid=a%0D%0Ab")) == "<invalid>");
    CHECK(outcome(sessions, request("/?sid=a%00b")) == "<invalid>");
    std::string too_long = "/?sid=";
    too_long.append(129, 'a');
    CHECK(outcome(sessions, request(too_long)) == "<invalid>");
  }

  TEST_CASE("hostile sizes: long values are checked without deep recursion") {
    const std::string long_id(32 * 1024, 'a');
    CHECK(outcome(extractor({header("X-Session-Id")}), request("/", {{"X-Session-Id", long_id}})) == "<invalid>");
    // Longer than any key the lease store takes, whatever the pattern allows.
    CHECK(outcome(extractor({header("X-Session-Id")}, "^[a-z]+$"), request("/", {{"X-Session-Id", long_id}})) ==
          "<invalid>");
    CHECK(from_cookies({{"Cookie", padded(32 * 1024, ';', "sid=abc")}}) == "abc");
    CHECK(from_query("/?" + padded(32 * 1024, '&', "sid=abc")) == "abc");
    CHECK(from_query("/?sid=" + padded(10 * 1024, '%', "")) == "<invalid>");
    CHECK(outcome(extractor({path("/s/([a-z]+)/x")}), request("/s/" + long_id)) == "<missing>");
    CHECK(outcome(extractor({path("/s/([a-z]+)/x")}), request("/" + long_id + "/s/abc/x")) == "abc");
  }

  TEST_CASE("percent_decode appends, and refuses malformed escapes") {
    std::string out = "x";
    CHECK(percent_decode("a%2fb%2F+c", false, out));
    CHECK(out == "xa/b/+c");
    out.clear();
    CHECK(percent_decode("a+b%2B", true, out));
    CHECK(out == "a b+");
    for (std::string_view malformed : {"%", "%4", "%G1", "%1G", "a%%20", "%-1"}) {
      INFO("input: " << malformed);
      std::string ignored;
      CHECK_FALSE(percent_decode(malformed, false, ignored));
    }
  }

}  // TEST_SUITE
