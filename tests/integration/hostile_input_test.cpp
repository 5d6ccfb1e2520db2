// Hostile HTTP input, replayed as raw bytes over plain TCP against a real baton-proxy in
// front of the test engine: each case checks the status and JSON error baton answers,
// whether it closes the connection (RFC 9112), and what reached the engine (nothing,
// for a request baton refuses). Then slow clients, and hostile session ids before Redis.
// docs/relay.md "Hostile input" has the table these cases check.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace baton::test {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// The error answer of docs/relay.md: status, application/json body with error, message
// and request_id, the same id in X-Request-Id, and Connection: close.
void check_error_answer(const Response& response, http::status status, std::string_view error) {
  INFO("response:\n", response);
  CHECK(response.result() == status);
  CHECK(response[http::field::content_type] == "application/json");
  CHECK_FALSE(response.keep_alive());
  rapidjson::Document json;
  json.Parse(response.body().data(), response.body().size());
  REQUIRE_FALSE(json.HasParseError());
  REQUIRE(json.IsObject());
  REQUIRE(json.HasMember("error"));
  CHECK(std::string_view(json["error"].GetString()) == error);
  CHECK(json.HasMember("message"));
  REQUIRE(json.HasMember("request_id"));
  CHECK(std::string_view(json["request_id"].GetString()) == response["X-Request-Id"]);
}

// ---- The replay table ----------------------------------------------------------------

struct HostileCase {
  std::string name;
  std::string bytes;
  http::status status;
  std::string_view error;               // baton's JSON "error"; empty when the engine answered
  std::vector<std::string> forwarded;  // targets the engine receives, in order
};

constexpr std::string_view host = "Host: engine.test\r\n";

std::string post_with(std::string_view fields, std::string_view body = {}) {
  std::string bytes = "POST /echo HTTP/1.1\r\n";
  bytes.append(host).append(fields).append("\r\n").append(body);
  return bytes;
}

std::string get_with(std::string_view fields) {
  std::string bytes = "GET /echo HTTP/1.1\r\n";
  bytes.append(host).append(fields).append("\r\n");
  return bytes;
}

std::string chunked_post(std::string_view body) { return post_with("Transfer-Encoding: chunked\r\n", body); }

const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: engine.test\r\n\r\n";

std::vector<HostileCase> hostile_cases() {
  using enum http::status;
  const std::string zero_chunk_then_smuggled = "0\r\n\r\n" + smuggled;
  std::string long_line = "GET /";
  long_line.append(9000, 'a').append(" HTTP/1.1\r\n").append(host).append("\r\n");
  std::string long_field = get_with("X-Big: ");
  long_field.insert(long_field.size() - 2, std::string(16 * 1024, 'b') + "\r\n");
  std::string long_line_and_fields = "GET /";
  long_line_and_fields.append(7000, 'a').append(" HTTP/1.1\r\n").append(host);
  long_line_and_fields.append("X-Pad: ").append(2000, 'p').append("\r\n\r\n");

  return {
      // Framing: Content-Length and Transfer-Encoding (RFC 9112 6.1, 6.3).
      {"CL.TE: Content-Length then Transfer-Encoding",
       post_with("Content-Length: " + std::to_string(zero_chunk_then_smuggled.size()) +
                     "\r\nTransfer-Encoding: chunked\r\n",
                 zero_chunk_then_smuggled),
       bad_request, "bad_request"},
      {"TE.CL: Transfer-Encoding then Content-Length",
       post_with("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "5c\r\n" + smuggled + "\r\n0\r\n\r\n"),
       bad_request, "bad_request"},
      {"Transfer-Encoding gzip with Content-Length", post_with("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n", "hello"),
       bad_request, "bad_request"},
      {"two differing Content-Length fields", post_with("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
       bad_request, "bad_request"},
      {"Content-Length: 5,6", post_with("Content-Length: 5,6\r\n", "hello!"), bad_request, "bad_request"},
      {"the same Content-Length twice", post_with("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
       bad_request, "bad_request"},
      {"Content-Length: 5, 5", post_with("Content-Length: 5, 5\r\n", "hello"), bad_request, "bad_request"},
      {"Content-Length: +5", post_with("Content-Length: +5\r\n", "hello"), bad_request, "bad_request"},
      {"Content-Length: 0x10", post_with("Content-Length: 0x10\r\n", "0123456789abcdef"), bad_request, "bad_request"},
      {"Content-Length: -1", post_with("Content-Length: -1\r\n"), bad_request, "bad_request"},
      {"Content-Length: empty", post_with("Content-Length: \r\n"), bad_request, "bad_request"},
      {"Content-Length beyond 64 bits", post_with("Content-Length: 99999999999999999999999\r\n"), bad_request,
       "bad_request"},
      {"Content-Length of 2^64-1, above max_body_size", post_with("Content-Length: 18446744073709551615\r\n"),
       payload_too_large, "body_too_large"},
      {"Transfer-Encoding: gzip, chunked", post_with("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
       not_implemented, "unsupported_transfer_coding"},
      {"Transfer-Encoding: gzip and chunked on two lines",
       post_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), not_implemented,
       "unsupported_transfer_coding"},
      {"Transfer-Encoding: identity", post_with("Transfer-Encoding: identity\r\n", zero_chunk_then_smuggled),
       bad_request, "bad_request"},
      {"Transfer-Encoding: chunked, gzip", post_with("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), bad_request,
       "bad_request"},
      {"Transfer-Encoding: chunked, chunked", post_with("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
       bad_request, "bad_request"},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /echo HTTP/1.0\r\nHost: engine.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad_request,
       "bad_request"},
      // TE.TE: obfuscated Transfer-Encoding, each followed by a smuggled request.
      {"TE.TE: Transfer-Encoding: xchunked", post_with("Transfer-Encoding: xchunked\r\n", zero_chunk_then_smuggled),
       bad_request, "bad_request"},
      {"TE.TE: space before the colon", post_with("Transfer-Encoding : chunked\r\n", zero_chunk_then_smuggled),
       bad_request, "bad_request"},
      {"TE.TE: chunked then a second Transfer-Encoding",
       post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", zero_chunk_then_smuggled), bad_request,
       "bad_request"},
      {"TE.TE: quoted \"chunked\"", post_with("Transfer-Encoding: \"chunked\"\r\n", zero_chunk_then_smuggled),
       bad_request, "bad_request"},
      {"TE.TE: Transfer_Encoding with an underscore", post_with("Transfer_Encoding: chunked\r\n", zero_chunk_then_smuggled),
       bad_request, "bad_request"},
      {"TE.TE: folded Transfer-Encoding", post_with("Transfer-Encoding:\r\n chunked\r\n", zero_chunk_then_smuggled),
       bad_request, "bad_request"},

      // Field syntax (RFC 9112 5, 2.2).
      {"obs-fold with a space", get_with("X-Folded: a\r\n b\r\n"), bad_request, "bad_request"},
      {"obs-fold with a tab", get_with("X-Folded: a\r\n\tb\r\n"), bad_request, "bad_request"},
      {"NUL in a field value", get_with("X-Nul: a\0b\r\n"s), bad_request, "bad_request"},
      {"bare CR in a field value", get_with("X-Cr: a\rb\r\n"), bad_request, "bad_request"},
      {"bare LF ending a field line", get_with("X-Lf: a\nX-Other: b\r\n"), bad_request, "bad_request"},
      {"control character 0x01 in a field value", get_with("X-Ctl: a\x01z\r\n"), bad_request, "bad_request"},
      {"DEL in a field value", get_with("X-Del: a\x7fz\r\n"), bad_request, "bad_request"},
      {"whitespace before the first field", "GET /echo HTTP/1.1\r\n Host: engine.test\r\n\r\n", bad_request,
       "bad_request"},

      // Request line (RFC 9112 3).
      {"NUL in the request target", "GET /echo\0x HTTP/1.1\r\nHost: engine.test\r\n\r\n"s, bad_request, "bad_request"},
      {"bare CR in the request line", "GET /echo HTTP/1.1\rHost: engine.test\r\n\r\n", bad_request, "bad_request"},
      {"control character in the method", "G\x01T /echo HTTP/1.1\r\nHost: engine.test\r\n\r\n", bad_request,
       "bad_request"},
      {"space inside the target", "GET /a b HTTP/1.1\r\nHost: engine.test\r\n\r\n", bad_request, "bad_request"},
      {"request line above max_header_size", long_line, uri_too_long, "uri_too_long"},

      // Host (RFC 9112 3.2).
      {"HTTP/1.1 without Host", "GET /echo HTTP/1.1\r\nAccept: */*\r\n\r\n", bad_request, "bad_request"},
      {"two Host fields", get_with("Host: other.test\r\n"), bad_request, "bad_request"},
      {"the same Host twice", get_with(host), bad_request, "bad_request"},
      {"Host with a path", "GET /echo HTTP/1.1\r\nHost: engine.test/x\r\n\r\n", bad_request, "bad_request"},
      {"Host with userinfo", "GET /echo HTTP/1.1\r\nHost: user@engine.test\r\n\r\n", bad_request, "bad_request"},

      // Sizes.
      {"a field above max_header_size", long_field, request_header_fields_too_large, "header_too_large"},
      {"request line below the limit, head above it", long_line_and_fields, request_header_fields_too_large,
       "header_too_large"},

      // Chunked bodies (RFC 9112 7.1): refused before the engine sees the request.
      {"chunk size not hex", chunked_post("zz\r\nhello\r\n0\r\n\r\n"), bad_request, "bad_request"},
      {"chunk size 0x5", chunked_post("0x5\r\nhello\r\n0\r\n\r\n"), bad_request, "bad_request"},
      {"chunk size -5", chunked_post("-5\r\nhello\r\n0\r\n\r\n"), bad_request, "bad_request"},
      {"chunk size beyond 64 bits", chunked_post("fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), bad_request,
       "bad_request"},
      {"chunk size of 2^64-1, above max_body_size", chunked_post("ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
       payload_too_large, "body_too_large"},
      // A body is relayed as it comes: a fault found after a piece went ahead cuts the
      // engine's connection mid-body, so the engine has the head but never a whole request.
      {"chunk data without its CRLF", chunked_post("5\r\nhelloXX0\r\n\r\n"), bad_request, "bad_request", {"/echo"}},
      {"chunk size line without CRLF", chunked_post("5\rhello\r\n0\r\n\r\n"), bad_request, "bad_request"},
      {"a trailer section that never ends", chunked_post("0\r\nX-Trailer: " + std::string(100 * 1024, 't')),
       request_header_fields_too_large, "header_too_large"},
      {"a trailer field of 64 KiB or more (Beast cannot store it)",
       chunked_post("0\r\nX-Trailer: " + std::string(70'000, 't') + "\r\n\r\n"), request_header_fields_too_large,
       "header_too_large"},

      // Versions (RFC 9110 2.5, 15.6.6).
      {"HTTP/2.0 request line", "GET /echo HTTP/2.0\r\nHost: engine.test\r\n\r\n", http_version_not_supported,
       "http_version_not_supported"},
      {"HTTP/3.0 request line", "GET /echo HTTP/3.0\r\nHost: engine.test\r\n\r\n", http_version_not_supported,
       "http_version_not_supported"},
      {"HTTP/2 connection preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", http_version_not_supported,
       "http_version_not_supported"},
      {"HTTP/0.9 with a version", "GET /echo HTTP/0.9\r\n\r\n", http_version_not_supported,
       "http_version_not_supported"},
      {"HTTP/0.9 without a version", "GET /echo\r\n\r\n", bad_request, "bad_request"},
      {"HTTP/1.10", "GET /echo HTTP/1.10\r\nHost: engine.test\r\n\r\n", bad_request, "bad_request"},
      {"HTTP/1.2 is served as HTTP/1.1", "GET /echo?v=1.2 HTTP/1.2\r\nHost: engine.test\r\n\r\n", ok, {},
       {"/echo?v=1.2"}},

      // What the RFCs allow, for contrast.
      {"HTTP/1.0 without Host", "GET /echo?v=1.0 HTTP/1.0\r\n\r\n", ok, {}, {"/echo?v=1.0"}},
      {"Connection: Content-Length keeps the framing",
       "POST /echo?connection=content-length HTTP/1.1\r\nHost: engine.test\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\nConnection: Content-Length\r\n\r\n" + smuggled,
       ok, {}, {"/echo?connection=content-length"}},
  };
}

std::string joined(const std::vector<std::string>& targets) {
  std::string text;
  for (const auto& target : targets) text += (text.empty() ? "" : " ") + target;
  return text;
}

// Replays one case on a new connection. A refused request closes it; an answered one
// keeps it open for the next request (HTTP/1.0 aside). A request on a new connection
// then shows, by the engine's record, exactly what the case made the engine receive.
void replay(const HostileCase& hostile, const BatonProxy& proxy, const TestEngine& engine) {
  CAPTURE(hostile.name);
  const std::size_t before = engine.received_targets().size();
  std::vector<std::string> expected = hostile.forwarded;
  {
    HttpClient client(proxy.port());
    client.send(hostile.bytes);
    const Response response = client.read_response();
    if (hostile.error.empty()) {
      CHECK(response.result() == hostile.status);
      CHECK(response.version() == 11);
    } else {
      check_error_answer(response, hostile.status, hostile.error);
    }
    if (!hostile.error.empty() || !response.keep_alive()) {
      CHECK(client.closed_by_peer());
    } else {
      CHECK(client.request(make_request(http::verb::get, "/echo?same-connection")).result() == http::status::ok);
      expected.push_back("/echo?same-connection");
    }
  }
  HttpClient next(proxy.port());
  CHECK(next.request(make_request(http::verb::get, "/echo?next")).result() == http::status::ok);
  expected.push_back("/echo?next");
  const auto targets = engine.received_targets();
  CHECK(joined({targets.begin() + static_cast<std::ptrdiff_t>(before), targets.end()}) == joined(expected));
}

// ---- Slow clients --------------------------------------------------------------------

long vm_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

// The proxy inherits the limit: each slow client costs it one descriptor, two with an
// engine connection, and the test as many again.
void raise_open_file_limit(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  REQUIRE_MESSAGE(limit.rlim_cur >= wanted, "RLIMIT_NOFILE hard limit ", limit.rlim_max, " is below ", wanted);
}

// One slow client on the test's own event loop: what the proxy sent back, and whether it
// closed the connection.
struct SlowClient {
  explicit SlowClient(net::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string received;
  bool closed = false;
};

net::awaitable<void> read_until_closed(SlowClient& client) {
  std::array<char, 512> chunk;
  for (;;) {
    beast::error_code error;
    const std::size_t n =
        co_await client.socket.async_read_some(net::buffer(chunk), net::redirect_error(net::use_awaitable, error));
    client.received.append(chunk.data(), n);
    if (error) break;
  }
  client.closed = true;
}

// Sends `bytes` at once, then `trickled` one byte every `pace`, and then nothing more;
// stops as soon as the proxy has answered.
net::awaitable<void> send_slowly(SlowClient& client, std::string bytes, std::string trickled,
                                 std::chrono::milliseconds pace) {
  beast::error_code error;
  if (!bytes.empty()) {
    co_await net::async_write(client.socket, net::buffer(bytes), net::redirect_error(net::use_awaitable, error));
  }
  net::steady_timer timer(client.socket.get_executor());
  for (std::size_t i = 0; i < trickled.size() && !error && client.received.empty(); ++i) {
    co_await net::async_write(client.socket, net::buffer(&trickled[i], 1), net::redirect_error(net::use_awaitable, error));
    timer.expires_after(pace);
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, error));
  }
}

std::size_t answered_408_and_closed(const std::vector<std::unique_ptr<SlowClient>>& clients) {
  return static_cast<std::size_t>(std::count_if(clients.begin(), clients.end(), [](const auto& client) {
    return client->closed && client->received.starts_with("HTTP/1.1 408 ");
  }));
}

// ---- Session ids ---------------------------------------------------------------------

// Calls of a command so far, from INFO commandstats ("cmdstat_evalsha:calls=12,...").
long long command_calls(RedisServer& redis, const std::string& command) {
  const auto info = redis.command({"INFO", "commandstats"}).text;
  const auto key = "cmdstat_" + command + ":calls=";
  const auto at = info.find(key);
  return at == std::string::npos ? 0 : std::atoll(info.c_str() + at + key.size());
}

long long lease_scripts_run(RedisServer& redis) { return command_calls(redis, "evalsha") + command_calls(redis, "eval"); }

struct HostileId {
  std::string name;
  std::string bytes;  // the whole request
  http::status status = http::status::bad_request;
  std::string_view error = "invalid_session_id";
};

std::string post(std::string target, std::string_view field = {}, std::string_view body = {}) {
  std::string bytes = "POST ";
  bytes.append(target).append(" HTTP/1.1\r\n").append(host).append(field);
  bytes.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return bytes;
}

std::string with_header(std::string_view id) { return post("/chat", "X-Session-Id: " + std::string(id) + "\r\n"); }
std::string with_cookie(std::string_view id) { return post("/chat", "Cookie: sid=" + std::string(id) + "\r\n"); }
std::string with_json(std::string_view value) { return post("/chat", {}, R"({"sessionId":)" + std::string(value) + "}"); }

std::vector<HostileId> hostile_ids() {
  using enum http::status;
  std::vector<HostileId> cases;
  for (const std::string id : {"*", "a*", "?", "a?b", "[a]", "{tag}", "a{b}c", "a b", "a\tb"}) {
    cases.push_back({"header " + id, with_header(id)});
    cases.push_back({"cookie " + id, with_cookie(id)});
  }
  for (const std::string encoded : {"*", "%2A", "a%3Fb", "%5Ba%5D", "%7Btag%7D", "a%0D%0AFLUSHALL", "a%0Ab", "a%00b",
                                    "%00", "a%20b"}) {
    cases.push_back({"query " + encoded, post("/chat?sessionId=" + encoded)});
    cases.push_back({"path " + encoded, post("/sessions/" + encoded)});
  }
  for (const std::string value : {R"("*")", R"("a?b")", R"("[a]")", R"("{tag}")", R"("a\r\nFLUSHALL")",
                                  R"("a\u0000b")", R"(["a"])", R"({"a":1})", "1.5", "true"}) {
    cases.push_back({"json " + value, with_json(value)});
  }
  const std::string big(100 * 1024, 'a');
  const std::string below_field_limit(60 * 1024, 'a');
  cases.push_back({"header of 60 KB", with_header(below_field_limit)});
  cases.push_back({"cookie of 60 KB", with_cookie(below_field_limit)});
  cases.push_back({"query of 100 KB", post("/chat?sessionId=" + big)});
  cases.push_back({"path of 100 KB", post("/sessions/" + big)});
  cases.push_back({"json of 100 KB", with_json('"' + big + '"'), payload_too_large, "body_too_large"});
  // Beast holds no field of 64 KiB or more, whatever max_header_size allows.
  cases.push_back({"header of 100 KB", with_header(big), request_header_fields_too_large, "header_too_large"});
  cases.push_back({"cookie of 100 KB", with_cookie(big), request_header_fields_too_large, "header_too_large"});
  // What HTTP itself does not let through is refused by the parser, before any session.
  cases.push_back({"header with NUL", with_header("a\0b"s), bad_request, "bad_request"});
  cases.push_back({"header with a bare CR", with_header("a\rb"), bad_request, "bad_request"});
  return cases;
}

ProxySettings session_settings(std::uint16_t engine_port, const RedisServer& redis, const std::string& pattern) {
  ProxySettings settings{.upstream_port = engine_port};
  settings.lease_backend = "redis";
  settings.max_header_size = "256k";  // so that 100 KB ids reach the session rules
  settings.extra_yaml = "redis: { url: " + redis.url() + " }\n"
                        "session:\n"
                        "  sources:\n"
                        "    - header: X-Session-Id\n"
                        "    - cookie: sid\n"
                        "    - query: sessionId\n"
                        "    - json: /sessionId\n"
                        "    - path: '^/sessions/([^/]+)'\n" +
                        (pattern.empty() ? "" : "  pattern: '" + pattern + "'\n") +
                        "routes: [ { match: { prefix: / }, lease: required } ]\n";
  return settings;
}

}  // namespace

TEST_SUITE("hostile input") {
  TEST_CASE("hostile request heads and bodies get their RFC 9112 status, and the engine sees none of them") {
    TestEngine engine;
    BatonProxy proxy({.upstream_port = engine.port(), .max_header_size = "8k", .max_body_size = "1m"});
    for (const auto& hostile : hostile_cases()) replay(hostile, proxy, engine);
    CHECK(proxy.process().running());
  }

  TEST_CASE("Connection: Content-Length does not strip the framing: the body stays a body") {
    TestEngine engine;
    BatonProxy proxy({.upstream_port = engine.port()});
    HttpClient client(proxy.port());
    client.send("POST /echo HTTP/1.1\r\nHost: engine.test\r\nContent-Length: " + std::to_string(smuggled.size()) +
                "\r\nConnection: Content-Length\r\n\r\n" + smuggled);
    const auto response = client.read_response();
    CHECK(response.result() == http::status::ok);
    CHECK(response.body().find("\"body_length\":" + std::to_string(smuggled.size())) != std::string::npos);
    CHECK(engine.last_request().value("Content-Length") == std::to_string(smuggled.size()));
  }

  TEST_CASE("1000 slowloris heads and 1000 slow bodies: 408 at their timeouts, a normal client served, memory bounded") {
    constexpr std::size_t per_kind = 1000;
    constexpr auto pace = 100ms;
    raise_open_file_limit(4 * per_kind + 1024);
    TestEngine engine;
    BatonProxy proxy({.upstream_port = engine.port(), .header_timeout = "2s", .idle_timeout = "2s"});
    HttpClient normal(proxy.port());
    for (int i = 0; i < 20; ++i) REQUIRE(normal.request(make_request(http::verb::get, "/echo?warm")).result() == http::status::ok);
    const long baseline_kib = vm_rss_kib(proxy.process().pid());
    REQUIRE(baseline_kib > 0);

    // A head that never ends in time (a byte per 100 ms, header_timeout 2 s); a body
    // that comes a byte per 100 ms for 1.5 s, then stops (idle_timeout 2 s).
    const std::string head = "GET /echo HTTP/1.1\r\nHost: engine.test\r\nUser-Agent: slowloris\r\nX-Pad: " +
                             std::string(200, 'p') + "\r\n\r\n";
    const std::string body_head = "POST /upload HTTP/1.1\r\nHost: engine.test\r\nContent-Length: 100000\r\n\r\n";
    const std::string body_start(15, 'b');
    net::io_context io;
    std::vector<std::unique_ptr<SlowClient>> heads;
    std::vector<std::unique_ptr<SlowClient>> bodies;
    const tcp::endpoint endpoint(net::ip::address_v4::loopback(), proxy.port());
    for (std::size_t i = 0; i < per_kind; ++i) {
      for (auto* kind : {&heads, &bodies}) {
        auto& client = *kind->emplace_back(std::make_unique<SlowClient>(io));
        client.socket.connect(endpoint);
      }
    }
    for (auto& client : heads) {
      net::co_spawn(io, read_until_closed(*client), net::detached);
      net::co_spawn(io, send_slowly(*client, "", head, pace), net::detached);
    }
    for (auto& client : bodies) {
      net::co_spawn(io, read_until_closed(*client), net::detached);
      net::co_spawn(io, send_slowly(*client, body_head, body_start, pace), net::detached);
    }
    const auto started = std::chrono::steady_clock::now();
    std::thread slow_clients([&io] { io.run_for(45s); });

    // Meanwhile: a normal client, on its kept-alive connection and on new ones.
    long peak_kib = baseline_kib;
    auto slowest_answer = 0ms;
    int answered = 0;
    while (std::chrono::steady_clock::now() - started < 3s) {
      const auto asked = std::chrono::steady_clock::now();
      const bool kept = normal.request(make_request(http::verb::get, "/echo?meanwhile")).result() == http::status::ok;
      HttpClient fresh(proxy.port());
      const bool fresh_ok = fresh.request(make_request(http::verb::get, "/echo?fresh")).result() == http::status::ok;
      answered += kept && fresh_ok ? 1 : 0;
      slowest_answer = std::max(slowest_answer, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::steady_clock::now() - asked));
      peak_kib = std::max(peak_kib, vm_rss_kib(proxy.process().pid()));
      std::this_thread::sleep_for(50ms);
    }
    slow_clients.join();
    const auto all_closed_after =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);

    MESSAGE("baton-proxy VmRSS: ", baseline_kib, " KiB before, ", peak_kib, " KiB at most with ", 2 * per_kind,
            " slow clients open (", (peak_kib - baseline_kib) / 1024, " MiB growth, ",
            (peak_kib - baseline_kib) * 1024 / static_cast<long>(2 * per_kind), " bytes per connection); ",
            "slowest normal answer ", slowest_answer.count(), " ms; all slow clients closed after ",
            all_closed_after.count(), " ms");
    CHECK(answered > 10);
    CHECK(answered_408_and_closed(heads) == per_kind);
    CHECK(answered_408_and_closed(bodies) == per_kind);
    CHECK(peak_kib - baseline_kib < 64 * 1024);
    CHECK(all_closed_after < 15s);
    CHECK(proxy.process().running());
    CHECK(normal.request(make_request(http::verb::get, "/echo?after")).result() == http::status::ok);
  }

  TEST_CASE("hostile session ids from every source are refused before Redis: no lease script runs") {
    RedisServer redis;
    TestEngine engine;
    // The default pattern, and one that lets anything through: the store's own alphabet
    // (lease::is_valid_session_id) still holds then.
    for (const std::string pattern : {"", "^.+$"}) {
      CAPTURE(pattern);
      // One valid id per proxy: the last one's lease may not be released yet.
      const std::string valid_id = pattern.empty() ? "valid.id-1" : "valid.id-2";
      BatonProxy proxy(session_settings(engine.port(), redis, pattern));
      REQUIRE(wait_until(10s, [&] {
        HttpClient client(proxy.port());
        client.send(with_header("warm-up"));
        return client.read_response().result() == http::status::ok;
      }));
      // The warm-up's release goes out in the background: counting starts after it.
      REQUIRE(wait_until(5s, [&] { return redis.command({"EXISTS", "baton:{warm-up}:lease"}).integer == 0; }));
      const long long scripts_before = lease_scripts_run(redis);
      const std::size_t targets_before = engine.received_targets().size();

      for (auto& hostile : hostile_ids()) {
        CAPTURE(hostile.name);
        HttpClient client(proxy.port());
        client.send(hostile.bytes);
        check_error_answer(client.read_response(), hostile.status, hostile.error);
      }
      CHECK(lease_scripts_run(redis) == scripts_before);
      CHECK(engine.received_targets().size() == targets_before);
      for (const auto& key : redis.command({"KEYS", "*"}).elements) {
        CAPTURE(key.text);
        CHECK((key.text.starts_with("baton:{warm-up}:") || key.text.starts_with("baton:{valid.id-")));
      }

      // The counting sees a lease when there is one.
      HttpClient client(proxy.port());
      client.send(with_header(valid_id));
      CHECK(client.read_response().result() == http::status::ok);
      CHECK(lease_scripts_run(redis) > scripts_before);
    }
  }
}

}  // namespace baton::test
