#include "support/http_client.hpp"

#include <algorithm>
#include <limits>
#include <system_error>

namespace baton::test {
namespace {

namespace websocket = beast::websocket;

constexpr std::string_view test_host = "engine.test";

// Runs one asynchronous operation on `ioc` to completion or until `timeout`; on timeout
// the socket's operations are cancelled and net::error::timed_out is returned. Asio's
// synchronous calls have no timeout, hence this.
template <class Start>
beast::error_code run_with_timeout(net::io_context& ioc, tcp::socket& socket, milliseconds timeout,
                                   Start start) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(timeout);
  if (result) return *result;
  beast::error_code ignored;
  socket.cancel(ignored);
  ioc.restart();
  ioc.run();
  return net::error::timed_out;
}

void throw_if(beast::error_code ec, const std::string& where) {
  if (ec) throw std::system_error(ec, where);
}

tcp::endpoint loopback(std::uint16_t port) { return {net::ip::address_v4::loopback(), port}; }

// Removes the first complete event block from `text` and parses it; nullopt when no
// block is complete yet. Blocks holding only comments are dropped, like a browser does.
std::optional<SseEvent> take_event(std::string& text) {
  for (;;) {
    const auto end = text.find("\n\n");
    if (end == std::string::npos) return std::nullopt;
    const std::string block = text.substr(0, end + 1);
    text.erase(0, end + 2);

    SseEvent event;
    bool has_fields = false;
    bool has_data = false;
    std::string_view rest = block;
    while (!rest.empty()) {
      const auto newline = rest.find('\n');
      const std::string_view line = rest.substr(0, newline);
      rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
      if (line.empty() || line.front() == ':') continue;
      const auto colon = line.find(':');
      const std::string_view field = line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      has_fields = true;
      if (field == "event") event.event = std::string(value);
      if (field == "data") {
        if (has_data) event.data += '\n';
        event.data += value;
        has_data = true;
      }
    }
    if (has_fields) return event;
  }
}

}  // namespace

Request make_admin_request(http::verb method, std::string target) {
  Request request = make_request(method, std::move(target));
  request.set(http::field::host, "127.0.0.1");
  return request;
}

Request make_request(http::verb method, std::string target, std::string body) {
  Request request{method, target, 11};
  request.set(http::field::host, test_host);
  request.set(http::field::user_agent, "baton-integration-tests");
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

HttpClient::HttpClient(std::uint16_t port, milliseconds timeout)
    : socket_(ioc_), port_(port), timeout_(timeout) {
  throw_if(run_with_timeout(ioc_, socket_, timeout_,
                            [&](auto handler) { socket_.async_connect(loopback(port_), handler); }),
           where("connect"));
}

std::string HttpClient::where(std::string_view step) const {
  return "127.0.0.1:" + std::to_string(port_) + " " + std::string(step);
}

void HttpClient::send(std::string_view bytes) {
  throw_if(run_with_timeout(ioc_, socket_, timeout_,
                            [&](auto handler) { net::async_write(socket_, net::buffer(bytes), handler); }),
           where("send"));
}

void HttpClient::send(Request request) {
  throw_if(run_with_timeout(ioc_, socket_, timeout_,
                            [&](auto handler) { http::async_write(socket_, request, handler); }),
           where("send request"));
}

Response HttpClient::read_response() {
  http::response_parser<http::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  throw_if(run_with_timeout(ioc_, socket_, timeout_,
                            [&](auto handler) { http::async_read(socket_, buffer_, parser, handler); }),
           where("read response"));
  return parser.release();
}

Response HttpClient::request(Request request) {
  send(std::move(request));
  return read_response();
}

http::response_header<> HttpClient::read_response_head() {
  stream_parser_.emplace();
  stream_parser_->header_limit(64 * 1024);
  stream_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  unparsed_events_.clear();
  throw_if(run_with_timeout(ioc_, socket_, timeout_,
                            [&](auto handler) { http::async_read_header(socket_, buffer_, *stream_parser_, handler); }),
           where("read response head"));
  return stream_parser_->get().base();
}

std::optional<SseEvent> HttpClient::read_event() {
  if (!stream_parser_) throw std::logic_error("read_event() before read_response_head()");
  for (;;) {
    if (auto event = take_event(unparsed_events_)) return event;
    if (stream_parser_->is_done()) return std::nullopt;
    throw_if(run_with_timeout(ioc_, socket_, timeout_,
                              [&](auto handler) { http::async_read_some(socket_, buffer_, *stream_parser_, handler); }),
             where("read event"));
    auto& body = stream_parser_->get().body();
    std::erase(body, '\r');  // "\r\n" line ends are as valid as "\n"
    unparsed_events_ += body;
    body.clear();
  }
}

bool HttpClient::closed_by_peer() {
  if (buffer_.size() != 0) return false;
  char byte = 0;
  const auto ec = run_with_timeout(ioc_, socket_, timeout_, [&](auto handler) {
    socket_.async_read_some(net::buffer(&byte, 1), handler);
  });
  return ec == net::error::eof || ec == net::error::connection_reset;
}

WebSocketClient::WebSocketClient(std::uint16_t port, std::string_view target, milliseconds timeout)
    : ws_(ioc_), port_(port), timeout_(timeout) {
  auto& socket = ws_.next_layer();
  throw_if(run_with_timeout(ioc_, socket, timeout_,
                            [&](auto handler) { socket.async_connect(loopback(port_), handler); }),
           where("connect"));
  throw_if(run_with_timeout(ioc_, socket, timeout_,
                            [&](auto handler) { ws_.async_handshake(test_host, target, handler); }),
           where("WebSocket handshake"));
}

std::string WebSocketClient::where(std::string_view step) const {
  return "ws 127.0.0.1:" + std::to_string(port_) + " " + std::string(step);
}

void WebSocketClient::send(const WebSocketMessage& message) {
  ws_.binary(message.binary);
  throw_if(run_with_timeout(ioc_, ws_.next_layer(), timeout_,
                            [&](auto handler) { ws_.async_write(net::buffer(message.payload), handler); }),
           where("send"));
}

WebSocketMessage WebSocketClient::read() {
  beast::flat_buffer buffer;
  throw_if(run_with_timeout(ioc_, ws_.next_layer(), timeout_,
                            [&](auto handler) { ws_.async_read(buffer, handler); }),
           where("read"));
  return {ws_.got_binary(), beast::buffers_to_string(buffer.data())};
}

void WebSocketClient::close() {
  throw_if(run_with_timeout(ioc_, ws_.next_layer(), timeout_,
                            [&](auto handler) { ws_.async_close(websocket::close_code::normal, handler); }),
           where("close"));
}

}  // namespace baton::test
