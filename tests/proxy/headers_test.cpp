#include "baton/proxy/headers.hpp"

#include <doctest/doctest.h>

using namespace baton;
using namespace baton::proxy;

namespace {

RequestHeader request_with(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  RequestHeader request;
  request.method(http::verb::get);
  request.target("/chat?x=1");
  request.version(11);
  for (auto [name, value] : fields) request.insert(name, value);
  return request;
}

std::vector<std::string> values_of(const http::fields& fields, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& field : fields) {
    if (beast::iequals(field.name_string(), name)) values.emplace_back(field.value());
  }
  return values;
}

bool has(const http::fields& fields, std::string_view name) { return !values_of(fields, name).empty(); }

// Parses written head bytes back, as the receiving side would.
template <bool isRequest>
http::message<isRequest, http::empty_body> parse_head(const std::string& bytes) {
  http::parser<isRequest, http::empty_body> parser;
  parser.eager(false);
  beast::error_code error;
  parser.put(net::buffer(bytes), error);
  REQUIRE_MESSAGE(!error, error.message() << " in:\n" << bytes);
  REQUIRE(parser.is_header_done());
  return parser.release();
}

http::request<http::empty_body> forwarded(const RequestHeader& request, UpstreamRequestInfo info = {"10.0.0.7", "rid-1"}) {
  std::string bytes;
  write_upstream_request_head(request, info, bytes);
  return parse_head<true>(bytes);
}

ResponseHeader response_with(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  ResponseHeader response;
  response.result(http::status::ok);
  response.version(11);
  for (auto [name, value] : fields) response.insert(name, value);
  return response;
}

http::response<http::empty_body> relayed(const ResponseHeader& response, ClientResponseInfo info) {
  std::string bytes;
  write_client_response_head(response, info, bytes);
  return parse_head<false>(bytes);
}

}  // namespace

TEST_SUITE("headers") {
  TEST_CASE("the fixed hop-by-hop fields and every Proxy- field stop at baton") {
    auto request = request_with({{"Host", "app"},
                                 {"Connection", "keep-alive"},
                                 {"Keep-Alive", "timeout=5"},
                                 {"TE", "trailers"},
                                 {"Trailer", "X-Checksum"},
                                 {"Upgrade", "h2c"},
                                 {"Proxy-Authorization", "Basic eA=="},
                                 {"Proxy-Connection", "keep-alive"},
                                 {"Accept", "text/html"},
                                 {"Cookie", "sid=1"}});
    auto sent = forwarded(request);
    for (auto name : {"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                      "Proxy-Authorization", "Proxy-Connection"}) {
      CHECK_MESSAGE(!has(sent, name), name);
    }
    CHECK(values_of(sent, "Accept") == std::vector<std::string>{"text/html"});
    CHECK(values_of(sent, "Cookie") == std::vector<std::string>{"sid=1"});
    CHECK(sent.method() == http::verb::get);
    CHECK(sent.target() == "/chat?x=1");
    CHECK(sent.version() == 11);
  }

  TEST_CASE("fields named by any Connection field stop at baton, case-insensitively") {
    auto request = request_with({{"Connection", "keep-alive, X-Secret"},
                                 {"x-secret", "1"},
                                 {"Accept", "*/*"},
                                 {"connection", "x-other"},
                                 {"X-Other", "2"},
                                 {"X-Kept", "3"}});
    CHECK(is_hop_by_hop(request, "x-SECRET"));
    CHECK(is_hop_by_hop(request, "X-Other"));
    CHECK(is_hop_by_hop(request, "Proxy-Anything"));
    CHECK(is_hop_by_hop(request, "keep-alive"));
    CHECK_FALSE(is_hop_by_hop(request, "X-Kept"));
    auto sent = forwarded(request);
    CHECK_FALSE(has(sent, "X-Secret"));
    CHECK_FALSE(has(sent, "X-Other"));
    CHECK(has(sent, "X-Kept"));
    CHECK(has(sent, "Accept"));
  }

  TEST_CASE("a protocol switch keeps Upgrade and Connection: upgrade, nothing else hop-by-hop") {
    auto request = request_with({{"Connection", "Upgrade, X-Secret"},
                                 {"Upgrade", "websocket"},
                                 {"X-Secret", "1"},
                                 {"Keep-Alive", "timeout=5"}});
    auto sent = forwarded(request, {"10.0.0.7", "rid-1", false, true});
    CHECK(values_of(sent, "Upgrade") == std::vector<std::string>{"websocket"});
    CHECK(values_of(sent, "Connection") == std::vector<std::string>{"upgrade"});
    CHECK_FALSE(has(sent, "X-Secret"));
    CHECK_FALSE(has(sent, "Keep-Alive"));
  }

  TEST_CASE("the engine request carries X-Forwarded-* and the request id") {
    SUBCASE("without earlier proxies") {
      auto sent = forwarded(request_with({{"Host", "app.example:8080"}, {"Expect", "100-continue"}}));
      CHECK(sent["X-Forwarded-For"] == "10.0.0.7");
      CHECK(sent["X-Forwarded-Proto"] == "http");
      CHECK(sent["X-Forwarded-Host"] == "app.example:8080");
      CHECK(sent["X-Request-Id"] == "rid-1");
      CHECK_FALSE(has(sent, "Expect"));
    }
    SUBCASE("behind a balancer that already set them") {
      auto sent = forwarded(request_with({{"Host", "internal:80"},
                                          {"X-Forwarded-For", "1.2.3.4"},
                                          {"X-Forwarded-For", "5.6.7.8"},
                                          {"X-Forwarded-Proto", "https"},
                                          {"X-Forwarded-Host", "app.example"},
                                          {"X-Request-Id", "from-client"}}),
                            {"127.0.0.1", "from-client"});
      CHECK(values_of(sent, "X-Forwarded-For") ==
            std::vector<std::string>{"1.2.3.4, 5.6.7.8, 127.0.0.1"});
      CHECK(values_of(sent, "X-Forwarded-Proto") == std::vector<std::string>{"https"});
      CHECK(values_of(sent, "X-Forwarded-Host") == std::vector<std::string>{"app.example"});
      CHECK(values_of(sent, "X-Request-Id") == std::vector<std::string>{"from-client"});
    }
  }

  TEST_CASE("the request body keeps its length or is re-framed as chunked") {
    auto sized = forwarded(request_with({{"Content-Length", "42"}}));
    CHECK(sized["Content-Length"] == "42");
    CHECK_FALSE(has(sized, "Transfer-Encoding"));
    auto chunked = forwarded(request_with({{"Transfer-Encoding", "chunked"}}),
                             {"10.0.0.7", "rid-1", true, false});
    CHECK(values_of(chunked, "Transfer-Encoding") == std::vector<std::string>{"chunked"});
  }

  TEST_CASE("the client response loses hop-by-hop fields and gains the request id") {
    auto response = response_with({{"Transfer-Encoding", "chunked"},
                                   {"Connection", "keep-alive, X-Internal"},
                                   {"X-Internal", "1"},
                                   {"Keep-Alive", "timeout=5"},
                                   {"Content-Type", "text/event-stream"},
                                   {"X-Request-Id", "engine-made"}});
    auto sent = relayed(response, {"rid-1", true, true, false, false});
    CHECK(values_of(sent, "Transfer-Encoding") == std::vector<std::string>{"chunked"});
    CHECK_FALSE(has(sent, "Connection"));
    CHECK_FALSE(has(sent, "Keep-Alive"));
    CHECK_FALSE(has(sent, "X-Internal"));
    CHECK(sent["Content-Type"] == "text/event-stream");
    CHECK(values_of(sent, "X-Request-Id") == std::vector<std::string>{"rid-1"});
    CHECK(sent.result() == http::status::ok);
    CHECK(sent.reason() == "OK");
  }

  TEST_CASE("the client response says how the connection goes on") {
    auto response = response_with({{"Content-Length", "12"}});
    auto closing = relayed(response, {"rid", false, false, false, false});
    CHECK(closing["Connection"] == "close");
    CHECK(closing["Content-Length"] == "12");
    auto http10 = relayed(response, {"rid", false, true, true, false});
    CHECK(http10["Connection"] == "keep-alive");
    auto tunnel = relayed(response_with({{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}),
                          {"rid", false, true, false, true});
    CHECK(tunnel["Connection"] == "upgrade");
    CHECK(tunnel["Upgrade"] == "websocket");
  }

  TEST_CASE("a leased request tells the engine to bypass caches, its fence and a migration") {
    auto request = request_with({{"Cache-Control", "max-age=60"},
                                 {"Pragma", "cache"},
                                 {"Accept-Encoding", "gzip, br"},
                                 {"Accept", "text/event-stream"}});
    UpstreamRequestInfo info{"10.0.0.7", "rid-1"};
    info.lease = {true, 1732000000000123, true, true};
    auto sent = forwarded(request, info);
    CHECK(values_of(sent, "Cache-Control") == std::vector<std::string>{"no-cache"});
    CHECK(values_of(sent, "Pragma") == std::vector<std::string>{"no-cache"});
    CHECK(sent["Baton-Fence"] == "1732000000000123");
    CHECK(sent["Baton-Session-Migrated"] == "?1");
    CHECK(values_of(sent, "Accept-Encoding") == std::vector<std::string>{"identity"});
    CHECK(sent["Accept"] == "text/event-stream");
  }

  TEST_CASE("without a lease the client's cache fields pass and no lease header is added") {
    auto sent = forwarded(request_with({{"Cache-Control", "max-age=60"}, {"Accept-Encoding", "gzip"}}));
    CHECK(sent["Cache-Control"] == "max-age=60");
    CHECK(sent["Accept-Encoding"] == "gzip");
    CHECK_FALSE(has(sent, "Baton-Fence"));
    CHECK_FALSE(has(sent, "Baton-Session-Migrated"));
  }

  TEST_CASE("a client cannot send its own fence or migration flag to the engine") {
    auto sent = forwarded(request_with({{"Baton-Fence", "999999999999999999"},
                                        {"baton-session-migrated", "?0"}}));
    CHECK_FALSE(has(sent, "Baton-Fence"));
    CHECK_FALSE(has(sent, "Baton-Session-Migrated"));
  }

  TEST_CASE("leased responses are not stored by shared caches, event streams not buffered") {
    ClientResponseInfo info{"rid", true, true, false, false};
    info.no_store = true;
    info.no_buffering = true;
    auto stream = relayed(response_with({{"Content-Type", "text/event-stream; charset=utf-8"},
                                         {"Cache-Control", "public, max-age=600"}}),
                          info);
    CHECK(values_of(stream, "Cache-Control") == std::vector<std::string>{"no-store"});
    CHECK(stream["X-Accel-Buffering"] == "no");
    auto json = relayed(response_with({{"Content-Type", "application/json"}}), info);
    CHECK(json["Cache-Control"] == "no-store");
    CHECK_FALSE(has(json, "X-Accel-Buffering"));
  }

  TEST_CASE("client-chosen request ids: 1 to 128 visible ASCII characters") {
    CHECK(is_valid_request_id("a"));
    CHECK(is_valid_request_id("3f2a-11ee:b7.x_y"));
    CHECK(is_valid_request_id(std::string(128, 'x')));
    CHECK_FALSE(is_valid_request_id(""));
    CHECK_FALSE(is_valid_request_id(std::string(129, 'x')));
    CHECK_FALSE(is_valid_request_id("has space"));
    CHECK_FALSE(is_valid_request_id("tab\there"));
    CHECK_FALSE(is_valid_request_id("caf\xc3\xa9"));
  }

  TEST_CASE("WebSocket handshakes are recognised by method, Connection and Upgrade") {
    CHECK(is_websocket_upgrade(request_with({{"Connection", "keep-alive, Upgrade"},
                                             {"Upgrade", "WebSocket"}})));
    CHECK_FALSE(is_websocket_upgrade(request_with({{"Upgrade", "websocket"}})));
    CHECK_FALSE(is_websocket_upgrade(request_with({{"Connection", "upgrade"}, {"Upgrade", "h2c"}})));
    auto post = request_with({{"Connection", "upgrade"}, {"Upgrade", "websocket"}});
    post.method(http::verb::post);
    CHECK_FALSE(is_websocket_upgrade(post));
  }

  TEST_CASE("responses to HEAD and 1xx/204/304 responses have no body") {
    CHECK(response_has_body(http::verb::get, 200));
    CHECK(response_has_body(http::verb::post, 404));
    CHECK_FALSE(response_has_body(http::verb::head, 200));
    CHECK_FALSE(response_has_body(http::verb::get, 101));
    CHECK_FALSE(response_has_body(http::verb::get, 204));
    CHECK_FALSE(response_has_body(http::verb::get, 304));
  }

  TEST_CASE("a Connection field naming Content-Length or Host strips neither, either way") {
    auto request = request_with({{"Host", "a"},
                                 {"Content-Length", "5"},
                                 {"Connection", "Content-Length, host, X-Secret"},
                                 {"X-Secret", "1"}});
    CHECK_FALSE(is_hop_by_hop(request, "content-length"));
    CHECK_FALSE(is_hop_by_hop(request, "Host"));
    auto sent = forwarded(request);
    CHECK(values_of(sent, "Content-Length") == std::vector<std::string>{"5"});
    CHECK(values_of(sent, "Host") == std::vector<std::string>{"a"});
    CHECK_FALSE(has(sent, "X-Secret"));
    auto response = response_with({{"Content-Length", "7"}, {"Connection", "content-length"}});
    CHECK(values_of(relayed(response, {"rid-1"}), "Content-Length") == std::vector<std::string>{"7"});
  }

  TEST_CASE("request heads baton refuses to forward: framing, then Host") {
    const auto fault = [](std::initializer_list<std::pair<std::string_view, std::string_view>> fields,
                          unsigned version = 11) {
      auto request = request_with(fields);
      request.version(version);
      return check_request_head(request);
    };
    CHECK(fault({{"Host", "a"}}) == HeadFault::none);
    CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}) == HeadFault::none);
    CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", " , Chunked"}}) == HeadFault::none);
    CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", "gzip"}, {"Content-Length", "5"}}) ==
          HeadFault::length_and_encoding);
    CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}, 10) == HeadFault::encoding_in_http10);
    CHECK(fault({{"Host", "a"}, {"Content-Length", "5"}}) == HeadFault::none);
    CHECK(fault({{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "5"}}) == HeadFault::repeated_length);
    CHECK(fault({{"Host", "a"}, {"Content-Length", "5, 5"}}) == HeadFault::repeated_length);
    for (std::string_view value : {"gzip", "identity", "xchunked", "chunked, gzip", "chunked, chunked",
                                   "chunked;x=1", ""}) {
      CAPTURE(value);
      CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", value}}) == HeadFault::chunked_not_final);
    }
    CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}}) == HeadFault::unknown_transfer_coding);
    CHECK(fault({{"Host", "a"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}) ==
          HeadFault::unknown_transfer_coding);
    CHECK(fault({{"Host", "a"}, {"Transfer_Encoding", "chunked"}}) == HeadFault::framing_lookalike);
    CHECK(fault({{"Host", "a"}, {"content_LENGTH", "5"}}) == HeadFault::framing_lookalike);
    CHECK(fault({{"Host", "a"}, {"X_Content_Length", "5"}}) == HeadFault::none);
    CHECK(fault({}) == HeadFault::missing_host);
    CHECK(fault({}, 10) == HeadFault::none);
    CHECK(fault({{"Host", "a"}, {"Host", "a"}}) == HeadFault::duplicate_host);
    CHECK(fault({{"Host", "[::1]:8080"}}) == HeadFault::none);
    CHECK(fault({{"Host", ""}}) == HeadFault::none);  // allowed when the target has no authority
    for (std::string_view value : {"a b", "a/b", "a@b", "a\"b", "a{b}"}) {
      CAPTURE(value);
      CHECK(fault({{"Host", value}}) == HeadFault::bad_host);
    }
  }

  TEST_CASE("obs-fold is a line break followed by a space or a tab") {
    CHECK_FALSE(has_obs_fold("GET / HTTP/1.1\r\nHost: a\r\nX: b c\r\n\r\n"));
    CHECK(has_obs_fold("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"));
    CHECK(has_obs_fold("X: b\r\n\tc\r\n"));
    CHECK_FALSE(has_obs_fold("X: b\r\n"));
  }

  TEST_CASE("the version of a request line, whole or still arriving") {
    const auto version = request_line_version("GET /a?b HTTP/2.0\r\nHost: a\r\n");
    REQUIRE(version.has_value());
    CHECK(version->major == 2);
    CHECK(version->minor == 0);
    CHECK(version->minor_at == std::string_view("GET /a?b HTTP/2.").size());
    CHECK(request_line_version("PRI * HTTP/3.0")->major == 3);
    CHECK(request_line_version("GET / HTTP/1.2\r\n")->minor == 2);
    for (std::string_view line : {"GET / HTTP/1.10\r\n", "GET / HTTP/1.\r\n", "GET /HTTP/2.0\r\n",
                                  "GET / x HTTP/2.0\r\n", "GET / HTTPS/2.0", "GET / HTTP/2"}) {
      CAPTURE(line);
      CHECK_FALSE(request_line_version(line).has_value());
    }
  }
}
