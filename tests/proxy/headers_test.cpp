#include "baton/proxy/headers.hpp"

#include <doctest/doctest.h>

using namespace baton;
using namespace baton::proxy;

namespace {

RequestHeader request_with(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  RequestHeader request;
  request.method(http::verb::get);
  request.target("/");
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

}  // namespace

TEST_SUITE("headers") {
  TEST_CASE("the fixed hop-by-hop fields and every Proxy- field are removed") {
    auto request = request_with({{"Connection", "keep-alive"},
                                 {"Keep-Alive", "timeout=5"},
                                 {"TE", "trailers"},
                                 {"Trailer", "X-Checksum"},
                                 {"Transfer-Encoding", "chunked"},
                                 {"Upgrade", "h2c"},
                                 {"Proxy-Authorization", "Basic eA=="},
                                 {"Proxy-Connection", "keep-alive"},
                                 {"Accept", "text/html"},
                                 {"Cookie", "sid=1"}});
    remove_hop_by_hop(request);
    for (auto name : {"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                      "Proxy-Authorization", "Proxy-Connection"}) {
      CHECK_MESSAGE(!has(request, name), name);
    }
    CHECK(values_of(request, "Accept") == std::vector<std::string>{"text/html"});
    CHECK(values_of(request, "Cookie") == std::vector<std::string>{"sid=1"});
  }

  TEST_CASE("fields named by any Connection field are removed, case-insensitively") {
    auto request = request_with({{"Connection", "keep-alive, X-Secret"},
                                 {"x-secret", "1"},
                                 {"Accept", "*/*"},
                                 {"connection", "x-other"},
                                 {"X-Other", "2"},
                                 {"X-Kept", "3"}});
    CHECK(is_hop_by_hop(request, "x-SECRET"));
    CHECK(is_hop_by_hop(request, "X-Other"));
    CHECK_FALSE(is_hop_by_hop(request, "X-Kept"));
    remove_hop_by_hop(request);
    CHECK_FALSE(has(request, "X-Secret"));
    CHECK_FALSE(has(request, "X-Other"));
    CHECK(has(request, "X-Kept"));
    CHECK(has(request, "Accept"));
  }

  TEST_CASE("a protocol switch keeps Upgrade and Connection: upgrade, nothing else hop-by-hop") {
    auto request = request_with({{"Connection", "Upgrade, X-Secret"},
                                 {"Upgrade", "websocket"},
                                 {"X-Secret", "1"},
                                 {"Keep-Alive", "timeout=5"}});
    remove_hop_by_hop(request, true);
    CHECK(values_of(request, "Upgrade") == std::vector<std::string>{"websocket"});
    CHECK(values_of(request, "Connection") == std::vector<std::string>{"upgrade"});
    CHECK_FALSE(has(request, "X-Secret"));
    CHECK_FALSE(has(request, "Keep-Alive"));
  }

  TEST_CASE("the engine request carries X-Forwarded-* and the request id") {
    SUBCASE("without earlier proxies") {
      auto request = request_with({{"Host", "app.example:8080"}, {"Expect", "100-continue"}});
      prepare_upstream_request(request, {"10.0.0.7", "abc123"}, false);
      CHECK(request["X-Forwarded-For"] == "10.0.0.7");
      CHECK(request["X-Forwarded-Proto"] == "http");
      CHECK(request["X-Forwarded-Host"] == "app.example:8080");
      CHECK(request["X-Request-Id"] == "abc123");
      CHECK_FALSE(has(request, "Expect"));
    }
    SUBCASE("behind a balancer that already set them") {
      auto request = request_with({{"Host", "internal:80"},
                                   {"X-Forwarded-For", "1.2.3.4"},
                                   {"X-Forwarded-For", "5.6.7.8"},
                                   {"X-Forwarded-Proto", "https"},
                                   {"X-Forwarded-Host", "app.example"},
                                   {"X-Request-Id", "from-client"}});
      prepare_upstream_request(request, {"127.0.0.1", "from-client"}, false);
      CHECK(values_of(request, "X-Forwarded-For") ==
            std::vector<std::string>{"1.2.3.4, 5.6.7.8, 127.0.0.1"});
      CHECK(request["X-Forwarded-Proto"] == "https");
      CHECK(request["X-Forwarded-Host"] == "app.example");
      CHECK(values_of(request, "X-Request-Id") == std::vector<std::string>{"from-client"});
    }
  }

  TEST_CASE("the client response loses hop-by-hop fields and gains the request id") {
    ResponseHeader response;
    response.result(http::status::ok);
    response.insert("Transfer-Encoding", "chunked");
    response.insert("Connection", "keep-alive");
    response.insert("Keep-Alive", "timeout=5");
    response.insert("Content-Type", "text/event-stream");
    response.insert("Content-Length", "12");
    prepare_client_response(response, "rid-1", false);
    CHECK_FALSE(has(response, "Transfer-Encoding"));
    CHECK_FALSE(has(response, "Connection"));
    CHECK_FALSE(has(response, "Keep-Alive"));
    CHECK(response["Content-Type"] == "text/event-stream");
    CHECK(response["Content-Length"] == "12");
    CHECK(response["X-Request-Id"] == "rid-1");
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
}
