// Small synchronous HTTP/1.1 and WebSocket clients for integration tests. Every network
// operation has a timeout; failures and timeouts throw std::system_error naming the step.
#pragma once

#include "baton/core/asio.hpp"

#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::test {

using std::chrono::milliseconds;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr milliseconds default_io_timeout{5000};

// An HTTP/1.1 request with Host and User-Agent set and its body framed by Content-Length.
Request make_request(http::verb method, std::string target, std::string body = {});
// The same addressed to an admin listener on the loopback (Host: 127.0.0.1), which
// answers no other host without a token.
Request make_admin_request(http::verb method, std::string target);

// One Server-Sent Event (comment lines are skipped, as a browser does).
struct SseEvent {
  std::string event = "message";  // the event: line, "message" when there is none
  std::string data;               // the data: lines joined by "\n"
};

// One client connection to 127.0.0.1:port over a raw TCP socket, kept open across
// requests so that keep-alive can be checked.
class HttpClient {
public:
  explicit HttpClient(std::uint16_t port, milliseconds timeout = default_io_timeout);
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Bytes exactly as given: for malformed requests and hand-made framing.
  void send(std::string_view bytes);
  void send(Request request);

  // Reads one whole response; no limit on its body.
  Response read_response();
  Response request(Request request);

  // Streaming: reads the head of a response, then its body event by event. read_event()
  // returns each event as soon as its closing blank line arrives, and nullopt once the
  // response body has ended.
  http::response_header<> read_response_head();
  std::optional<SseEvent> read_event();

  // Waits up to the timeout for the peer to close (EOF or reset). False when it stays
  // open or sends more bytes.
  bool closed_by_peer();

private:
  std::string where(std::string_view step) const;

  net::io_context ioc_;
  tcp::socket socket_;
  std::uint16_t port_;
  milliseconds timeout_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> stream_parser_;
  std::string unparsed_events_;  // streamed body bytes not yet returned as events
};

struct WebSocketMessage {
  bool binary = false;
  std::string payload;
};

// A WebSocket client connection, handshaken with Host "engine.test" on construction.
class WebSocketClient {
public:
  WebSocketClient(std::uint16_t port, std::string_view target, milliseconds timeout = default_io_timeout);
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  void send(const WebSocketMessage& message);
  WebSocketMessage read();
  void close();  // the closing handshake

private:
  std::string where(std::string_view step) const;

  net::io_context ioc_;
  beast::websocket::stream<tcp::socket> ws_;
  std::uint16_t port_;
  milliseconds timeout_;
};

}  // namespace baton::test
