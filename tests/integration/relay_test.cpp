// The relay of baton-proxy, black-box: a real baton-proxy process between these tests
// and an in-process engine, both on free loopback ports.
#include "support/baton_proxy.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  INFO("body: ", text);
  REQUIRE_FALSE(document.HasParseError());
  REQUIRE(document.IsObject());
  return document;
}

// The member as a string; empty when it is missing or not a string.
std::string json_string(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsString()) return {};
  return {member->value.GetString(), member->value.GetStringLength()};
}

std::uint64_t json_uint(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  REQUIRE_MESSAGE((member != object.MemberEnd() && member->value.IsUint64()), "member ", name);
  return member->value.GetUint64();
}

std::string field(const Response& response, std::string_view name) {
  return std::string(response[name]);
}

// The field as the engine received it, or "<absent>".
std::string seen_field(const ReceivedRequest& request, std::string_view name) {
  return request.value(name).value_or("<absent>");
}

bool contains_ignoring_case(std::string_view text, std::string_view word) {
  return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         }) != text.end();
}

bool is_generated_request_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// An error answer as the relay contract defines it: the status, a JSON body
// {"error": slug, "message", "request_id"} and the same id in X-Request-Id.
void check_error_response(const Response& response, http::status status, std::string_view slug) {
  INFO("response:\n", response);
  CHECK(response.result() == status);
  CHECK(field(response, "Content-Type").starts_with("application/json"));
  const auto json = parse_json(response.body());
  CHECK(json_string(json, "error") == slug);
  CHECK_FALSE(json_string(json, "message").empty());
  const auto request_id = field(response, "X-Request-Id");
  CHECK_FALSE(request_id.empty());
  CHECK(json_string(json, "request_id") == request_id);
}

// Sends a harmless request on a new connection and returns the targets the engine has
// received by the time it answered, space-separated. Anything baton wrongly forwarded
// before went out before this request, so it shows up here without any sleep.
std::string targets_after_followup(const BatonProxy& proxy, const TestEngine& engine) {
  HttpClient client(proxy.port());
  const auto response = client.request(make_request(http::verb::get, "/echo?followup"));
  CHECK(response.result() == http::status::ok);
  std::string targets;
  for (const auto& target : engine.received_targets()) targets += (targets.empty() ? "" : " ") + target;
  return targets;
}

constexpr std::string_view only_followup = "/echo?followup";

std::string test_bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = large_body_byte(i);
  return bytes;
}

// "5\r\nhello\r\n...0\r\n\r\n" with chunks of varying sizes, as a streaming client sends.
std::string chunked_encoding(std::string_view body) {
  std::string encoded;
  std::size_t chunk_size = 1000;
  for (std::size_t offset = 0; offset < body.size(); offset += chunk_size) {
    chunk_size = chunk_size * 3 % 65521 + 1;  // 3001, 9004, ... varying, never zero
    const auto chunk = body.substr(offset, chunk_size);
    std::ostringstream size_line;
    size_line << std::hex << chunk.size() << "\r\n";
    encoded += size_line.str();
    encoded += chunk;
    encoded += "\r\n";
  }
  return encoded + "0\r\n\r\n";
}

void check_token_events(HttpClient& client, int from, int to) {
  for (int k = from; k <= to; ++k) {
    INFO("token event ", k);
    const auto event = client.read_event();
    REQUIRE(event.has_value());
    CHECK(event->event == "token");
    CHECK(event->data == std::to_string(k));
  }
}

void check_done_then_end(HttpClient& client) {
  const auto done = client.read_event();
  REQUIRE(done.has_value());
  CHECK(done->event == "done");
  CHECK_FALSE(client.read_event().has_value());
}

}  // namespace

TEST_SUITE("relay") {

TEST_CASE("a request is forwarded to the engine and its answer relayed back") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  const auto response = client.request(make_request(http::verb::post, "/echo?x=1", "hello engine"));

  CHECK(response.result() == http::status::ok);
  CHECK(field(response, "Content-Type") == "application/json");
  const auto echo = parse_json(response.body());
  CHECK(json_string(echo, "method") == "POST");
  CHECK(json_string(echo, "target") == "/echo?x=1");
  CHECK(json_uint(echo, "body_length") == 12);
}

TEST_CASE("keep-alive: sequential requests on one client connection reuse one engine connection") {
  unsigned threads = 1;
  SUBCASE("one thread") { threads = 1; }
  SUBCASE("two threads") { threads = 2; }
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .threads = threads});
  HttpClient client(proxy.port());

  for (int i = 0; i < 20; ++i) {
    const auto target = "/echo?request=" + std::to_string(i);
    const auto response = client.request(make_request(http::verb::get, target));
    REQUIRE(response.result() == http::status::ok);
    CHECK(json_string(parse_json(response.body()), "target") == target);
  }

  CHECK(engine.connections_accepted() == 1);
}

TEST_CASE("concurrent client connections are all relayed with two threads") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .threads = 2});
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<HttpClient>(proxy.port()));
    clients.back()->send(make_request(http::verb::get, "/echo?client=" + std::to_string(i)));
  }

  for (int i = 0; i < 8; ++i) {
    const auto response = clients[i]->read_response();
    CHECK(response.result() == http::status::ok);
    CHECK(json_string(parse_json(response.body()), "target") == "/echo?client=" + std::to_string(i));
  }
}

TEST_CASE("hop-by-hop request fields do not reach the engine while end-to-end fields pass unchanged") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  auto request = make_request(http::verb::get, "/echo");
  request.set(http::field::connection, "keep-alive, X-Secret, Upgrade");
  request.set("X-Secret", "named by Connection");
  request.set(http::field::keep_alive, "timeout=5");
  request.set(http::field::te, "trailers");
  request.set(http::field::trailer, "X-Checksum");
  request.set(http::field::upgrade, "h2c");
  request.set(http::field::proxy_authorization, "Basic cHJveHk6c2VjcmV0");
  request.set(http::field::proxy_connection, "keep-alive");
  request.set(http::field::authorization, "Bearer for-the-engine");
  request.set(http::field::cookie, "sid=abc; theme=dark");
  request.set("X-End-To-End", "kept as is");
  request.insert("X-Multi", "a");
  request.insert("X-Multi", "b");

  const auto response = client.request(request);

  REQUIRE(response.result() == http::status::ok);
  const auto seen = engine.last_request();
  for (const auto* hop_by_hop : {"X-Secret", "Keep-Alive", "TE", "Trailer", "Upgrade",
                                 "Proxy-Authorization", "Proxy-Connection"}) {
    CHECK_MESSAGE(seen_field(seen, hop_by_hop) == "<absent>", hop_by_hop, " reached the engine");
  }
  const auto connection = seen.value("Connection").value_or("");
  CHECK_FALSE(contains_ignoring_case(connection, "x-secret"));
  CHECK_FALSE(contains_ignoring_case(connection, "upgrade"));
  CHECK(seen_field(seen, "Authorization") == "Bearer for-the-engine");
  CHECK(seen_field(seen, "Cookie") == "sid=abc; theme=dark");
  CHECK(seen_field(seen, "X-End-To-End") == "kept as is");
  CHECK(seen_field(seen, "X-Multi") == "a, b");  // as two fields or joined: RFC 9110 5.3
  CHECK(seen_field(seen, "User-Agent") == "baton-integration-tests");
}

TEST_CASE("hop-by-hop response fields do not reach the client while end-to-end fields pass unchanged") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  const auto response = client.request(make_request(http::verb::get, "/hop-by-hop"));

  INFO("response:\n", response);
  REQUIRE(response.result() == http::status::ok);
  CHECK(response.count("X-Engine-Secret") == 0);
  CHECK(response.count(http::field::keep_alive) == 0);
  CHECK(response.count(http::field::proxy_connection) == 0);
  CHECK_FALSE(contains_ignoring_case(field(response, "Connection"), "x-engine-secret"));
  CHECK(field(response, "X-Engine-Visible") == "yes");
  CHECK(field(response, "Content-Type") == "text/plain");
  CHECK(response.body() == "hop-by-hop");
}

TEST_CASE("X-Forwarded-For: the client address is appended to the incoming value") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  auto forwarded = make_request(http::verb::get, "/echo");
  forwarded.set("X-Forwarded-For", "1.2.3.4");
  REQUIRE(client.request(forwarded).result() == http::status::ok);
  CHECK(seen_field(engine.last_request(), "X-Forwarded-For") == "1.2.3.4, 127.0.0.1");

  REQUIRE(client.request(make_request(http::verb::get, "/echo")).result() == http::status::ok);
  CHECK(seen_field(engine.last_request(), "X-Forwarded-For") == "127.0.0.1");
}

TEST_CASE("X-Forwarded-Proto and X-Forwarded-Host default to http and the Host") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  REQUIRE(client.request(make_request(http::verb::get, "/echo")).result() == http::status::ok);

  const auto seen = engine.last_request();
  CHECK(seen_field(seen, "X-Forwarded-Proto") == "http");
  CHECK(seen_field(seen, "X-Forwarded-Host") == "engine.test");
}

TEST_CASE("X-Forwarded-Proto and X-Forwarded-Host sent by the client are kept") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  auto request = make_request(http::verb::get, "/echo");
  request.set("X-Forwarded-Proto", "https");
  request.set("X-Forwarded-Host", "public.example");

  REQUIRE(client.request(request).result() == http::status::ok);

  const auto seen = engine.last_request();
  CHECK(seen_field(seen, "X-Forwarded-Proto") == "https");
  CHECK(seen_field(seen, "X-Forwarded-Host") == "public.example");
}

TEST_CASE("a missing X-Request-Id is generated and seen by the engine and echoed to the client") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  const auto first = client.request(make_request(http::verb::get, "/echo"));
  const auto first_seen = seen_field(engine.last_request(), "X-Request-Id");
  const auto second = client.request(make_request(http::verb::get, "/echo"));

  const auto id = field(first, "X-Request-Id");
  INFO("X-Request-Id: ", id);
  CHECK(is_generated_request_id(id));
  CHECK(first_seen == id);
  CHECK(field(second, "X-Request-Id") != id);
}

TEST_CASE("a valid X-Request-Id from the client is kept") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  const std::string id = "client-7f3a_b.9:~!" + std::string(110, 'z');  // 128 visible characters
  auto request = make_request(http::verb::get, "/echo");
  request.set("X-Request-Id", id);

  const auto response = client.request(request);

  CHECK(seen_field(engine.last_request(), "X-Request-Id") == id);
  CHECK(field(response, "X-Request-Id") == id);
}

TEST_CASE("an invalid X-Request-Id from the client is replaced by a generated one") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  for (const std::string& invalid : {std::string(129, 'a'), std::string("has space"), std::string("tab\there")}) {
    INFO("sent X-Request-Id: ", invalid);
    auto request = make_request(http::verb::get, "/echo");
    request.set("X-Request-Id", invalid);

    const auto response = client.request(request);

    const auto id = field(response, "X-Request-Id");
    CHECK(is_generated_request_id(id));
    CHECK(seen_field(engine.last_request(), "X-Request-Id") == id);
  }
}

TEST_CASE("a malformed request gets 400 bad_request and a closed connection and never reaches the engine") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());

  client.send("GET /echo HTTP/1.1\r\nHost: engine.test\r\nBad Header\r\n\r\n");

  check_error_response(client.read_response(), http::status::bad_request, "bad_request");
  CHECK(client.closed_by_peer());
  CHECK(targets_after_followup(proxy, engine) == only_followup);
}

TEST_CASE("Content-Length with Transfer-Encoding (smuggling) gets 400 and nothing reaches the engine") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: engine.test\r\n\r\n";
  const std::string body = "0\r\n\r\n" + smuggled;

  client.send("POST /echo HTTP/1.1\r\nHost: engine.test\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\nTransfer-Encoding: chunked\r\n\r\n" + body);

  check_error_response(client.read_response(), http::status::bad_request, "bad_request");
  CHECK(client.closed_by_peer());
  CHECK(targets_after_followup(proxy, engine) == only_followup);
}

TEST_CASE("a client that stalls inside the request head gets 408 request_timeout and is closed") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .header_timeout = "1s"});
  HttpClient client(proxy.port());

  client.send("GET /echo HTTP/1.1\r\nHost: engine.test\r\n");

  check_error_response(client.read_response(), http::status::request_timeout, "request_timeout");
  CHECK(client.closed_by_peer());
  CHECK(targets_after_followup(proxy, engine) == only_followup);
}

TEST_CASE("a Content-Length above client.max_body_size gets 413 body_too_large before the engine sees it") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .max_body_size = "1m"});
  HttpClient client(proxy.port());

  client.send("POST /upload HTTP/1.1\r\nHost: engine.test\r\nContent-Length: 2000000\r\n\r\n");

  check_error_response(client.read_response(), http::status::payload_too_large, "body_too_large");
  CHECK(client.closed_by_peer());
  CHECK(targets_after_followup(proxy, engine) == only_followup);
}

TEST_CASE("a header block above client.max_header_size gets 431 header_too_large") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .max_header_size = "8k"});
  HttpClient client(proxy.port());

  client.send("GET /echo HTTP/1.1\r\nHost: engine.test\r\nX-Big: " + std::string(16 * 1024, 'b') + "\r\n\r\n");

  check_error_response(client.read_response(), http::status::request_header_fields_too_large,
                       "header_too_large");
  CHECK(client.closed_by_peer());
  CHECK(targets_after_followup(proxy, engine) == only_followup);
}

TEST_CASE("nothing listening at the upstream gets 502 upstream_unreachable") {
  BatonProxy proxy({.upstream_port = free_port()});
  HttpClient client(proxy.port());

  const auto response = client.request(make_request(http::verb::get, "/echo"));

  check_error_response(response, http::status::bad_gateway, "upstream_unreachable");
}

TEST_CASE("an engine that sends no response head within upstream.read_timeout gets 504 upstream_timeout") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .read_timeout = "1s"});
  HttpClient client(proxy.port());

  const auto response = client.request(make_request(http::verb::get, "/slow?ms=3000"));

  check_error_response(response, http::status::gateway_timeout, "upstream_timeout");
}

TEST_CASE("SSE events reach the client one by one while the engine is still streaming") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  client.send(make_request(http::verb::get, "/sse?events=5&hold=1"));

  const auto head = client.read_response_head();
  CHECK(head.result() == http::status::ok);
  CHECK(std::string(head[http::field::content_type]).starts_with("text/event-stream"));
  // The engine holds events 2..5 until release_hold(): event 1 must arrive on its own.
  check_token_events(client, 1, 1);
  engine.release_hold();
  check_token_events(client, 2, 5);
  check_done_then_end(client);
}

TEST_CASE("an event stream longer than 8 MB is relayed whole") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  client.send(make_request(http::verb::get, "/sse?events=100&pad=100000"));  // about 10 MB

  REQUIRE(client.read_response_head().result() == http::status::ok);
  check_token_events(client, 1, 100);
  check_done_then_end(client);
}

TEST_CASE("a 5 MB request body with Content-Length reaches the engine intact") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .max_body_size = "64m"});
  HttpClient client(proxy.port());
  const auto body = test_bytes(5 * 1024 * 1024);

  const auto response = client.request(make_request(http::verb::post, "/upload", body));

  REQUIRE(response.result() == http::status::ok);
  const auto upload = parse_json(response.body());
  CHECK(json_uint(upload, "length") == body.size());
  CHECK(json_string(upload, "fnv1a64") == fnv1a64_hex(body));
}

TEST_CASE("a 5 MB chunked request body reaches the engine intact") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .max_body_size = "64m"});
  HttpClient client(proxy.port());
  const auto body = test_bytes(5 * 1024 * 1024);

  client.send("POST /upload HTTP/1.1\r\nHost: engine.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
              chunked_encoding(body));
  const auto response = client.read_response();

  REQUIRE(response.result() == http::status::ok);
  const auto upload = parse_json(response.body());
  CHECK(json_uint(upload, "length") == body.size());
  CHECK(json_string(upload, "fnv1a64") == fnv1a64_hex(body));
}

TEST_CASE("a 20 MB chunked response reaches the client intact") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  HttpClient client(proxy.port());
  const std::size_t size = 20 * 1024 * 1024;

  const auto response = client.request(make_request(http::verb::get, "/large?bytes=" + std::to_string(size)));

  REQUIRE(response.result() == http::status::ok);
  CHECK(response.body().size() == size);
  CHECK(fnv1a64_hex(response.body()) == fnv1a64_hex(test_bytes(size)));
}

TEST_CASE("a WebSocket is tunnelled to the engine: text and binary messages echo back") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port()});
  WebSocketClient ws(proxy.port(), "/ws");

  ws.send({.binary = false, .payload = "hello through baton"});
  const auto text = ws.read();
  CHECK_FALSE(text.binary);
  CHECK(text.payload == "hello through baton");

  const auto bytes = test_bytes(100 * 1024);
  ws.send({.binary = true, .payload = bytes});
  const auto binary = ws.read();
  CHECK(binary.binary);
  CHECK(binary.payload.size() == bytes.size());
  CHECK(fnv1a64_hex(binary.payload) == fnv1a64_hex(bytes));

  ws.close();
}

TEST_CASE("SIGTERM during a stream refuses new connections but lets the stream complete and exits 0") {
  TestEngine engine;
  BatonProxy proxy({.upstream_port = engine.port(), .drain_timeout = "5s"});
  HttpClient client(proxy.port());
  client.send(make_request(http::verb::get, "/sse?events=3&hold=1"));
  REQUIRE(client.read_response_head().result() == http::status::ok);
  check_token_events(client, 1, 1);

  proxy.process().signal(SIGTERM);

  CHECK(wait_until(3s, [&] { return !port_accepts(proxy.port()); }));
  engine.release_hold();
  check_token_events(client, 2, 3);
  check_done_then_end(client);
  // The drain timeout plus the time a process needs to exit.
  const auto status = proxy.process().wait_for_exit(5s + 2s);
  REQUIRE_MESSAGE(status.has_value(), "baton-proxy still runs after the drain timeout");
  CHECK_MESSAGE(status->exited_with(0), *status);
}

}  // TEST_SUITE("relay")

}  // namespace baton::test
