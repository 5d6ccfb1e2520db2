#include "support/test_engine.hpp"

#include "baton/core/asio.hpp"

#include <boost/beast/websocket.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

namespace baton::test {
namespace {

namespace websocket = beast::websocket;
using Request = http::request<http::string_body>;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::size_t large_chunk_size = 32 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

// "/path?a=1&b=2" split into the path and its query parameters.
struct Target {
  std::string path;
  std::map<std::string, std::string, std::less<>> query;

  explicit Target(std::string_view target) {
    const auto question = target.find('?');
    path = std::string(target.substr(0, question));
    if (question == std::string_view::npos) return;
    std::string_view rest = target.substr(question + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const auto pair = rest.substr(0, amp);
      const auto equals = pair.find('=');
      query.emplace(std::string(pair.substr(0, equals)),
                    equals == std::string_view::npos ? "" : std::string(pair.substr(equals + 1)));
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    }
  }

  std::uint64_t number(std::string_view name, std::uint64_t fallback) const {
    const auto it = query.find(name);
    if (it == query.end()) return fallback;
    std::uint64_t value = fallback;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
    return value;
  }
};

std::string to_json(const std::function<void(JsonWriter&)>& write_members) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  write_members(writer);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void write_string(JsonWriter& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

http::response<http::string_body> json_response(const Request& request, std::string body) {
  http::response<http::string_body> response{http::status::ok, request.version()};
  response.set(http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// The head of a chunked response whose body the caller writes chunk by chunk.
http::response<http::empty_body> chunked_head(const Request& request, std::string_view content_type) {
  http::response<http::empty_body> response{http::status::ok, request.version()};
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.chunked(true);
  return response;
}

}  // namespace

std::vector<std::string> ReceivedRequest::values(std::string_view name) const {
  std::vector<std::string> result;
  for (const auto& [field, value] : headers)
    if (iequals(field, name)) result.push_back(value);
  return result;
}

std::optional<std::string> ReceivedRequest::value(std::string_view name) const {
  const auto all = values(name);
  if (all.empty()) return std::nullopt;
  std::string joined = all.front();
  for (std::size_t i = 1; i < all.size(); ++i) joined += ", " + all[i];
  return joined;
}

std::string fnv1a64_hex(std::string_view data) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

class TestEngine::Impl {
public:
  Impl()
      : acceptor_(ioc_),
        hold_gate_(ioc_, net::steady_timer::time_point::max()),
        linger_gate_(ioc_, net::steady_timer::time_point::max()) {
    const tcp::endpoint endpoint(net::ip::address_v4::loopback(), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(ioc_, accept_loop(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~Impl() {
    ioc_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }

  void release_hold() {
    net::post(ioc_, [this] {
      hold_released_ = true;
      hold_gate_.cancel();
    });
  }

  void end_lingering_streams() {
    net::post(ioc_, [this] {
      linger_released_ = true;
      linger_gate_.cancel();
    });
  }

  std::size_t connections_accepted() const { return connections_.load(); }

  std::vector<std::string> received_targets() const {
    std::lock_guard lock(mutex_);
    return targets_;
  }

  ReceivedRequest last_request() const {
    std::lock_guard lock(mutex_);
    return last_request_;
  }

private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      ++connections_;
      // Events must leave at once, not when Nagle decides.
      socket.set_option(tcp::no_delay(true));
      net::co_spawn(ioc_, serve(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(1024 * 1024);
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      beast::error_code ec;
      co_await http::async_read_header(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      record(parser.get());

      if (websocket::is_upgrade(parser.get())) {
        co_await echo_websocket(std::move(stream), parser.release());
        co_return;
      }
      co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      const Request request = parser.release();
      co_await respond(stream, request);
      if (!request.keep_alive()) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        co_return;
      }
    }
  }

  void record(const Request& request) {
    ReceivedRequest received;
    received.method = std::string(request.method_string());
    received.target = std::string(request.target());
    for (const auto& field : request)
      received.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    std::lock_guard lock(mutex_);
    targets_.push_back(received.target);
    last_request_ = std::move(received);
  }

  net::awaitable<void> respond(beast::tcp_stream& stream, const Request& request) {
    const Target target(request.target());
    if (target.path == "/large") {
      co_await write_large(stream, request, target.number("bytes", 0));
    } else if (target.path == "/sse") {
      co_await write_sse(stream, request, target);
    } else if (target.path == "/slow") {
      co_await write_slow(stream, request, target.number("ms", 0));
    } else {
      co_await write(stream, immediate_response(request, target));
    }
  }

  // The routes that answer at once with a whole body.
  http::response<http::string_body> immediate_response(const Request& request, const Target& target) const {
    if (target.path == "/upload") return upload(request);
    if (target.path == "/connections") return connections(request);
    if (target.path == "/hop-by-hop") return hop_by_hop(request);
    return echo(request);
  }

  template <class Message>
  static net::awaitable<void> write(beast::tcp_stream& stream, Message message) {
    co_await http::async_write(stream, message, net::use_awaitable);
  }

  static http::response<http::string_body> echo(const Request& request) {
    return json_response(request, to_json([&](JsonWriter& json) {
      json.Key("method");
      write_string(json, request.method_string());
      json.Key("target");
      write_string(json, request.target());
      json.Key("headers");
      json.StartArray();
      for (const auto& field : request) {
        json.StartArray();
        write_string(json, field.name_string());
        write_string(json, field.value());
        json.EndArray();
      }
      json.EndArray();
      json.Key("body_length");
      json.Uint64(request.body().size());
    }));
  }

  static http::response<http::string_body> upload(const Request& request) {
    return json_response(request, to_json([&](JsonWriter& json) {
      json.Key("length");
      json.Uint64(request.body().size());
      json.Key("fnv1a64");
      write_string(json, fnv1a64_hex(request.body()));
    }));
  }

  http::response<http::string_body> connections(const Request& request) const {
    return json_response(request, to_json([&](JsonWriter& json) {
      json.Key("connections");
      json.Uint64(connections_.load());
    }));
  }

  static http::response<http::string_body> hop_by_hop(const Request& request) {
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "text/plain");
    response.set(http::field::connection,
                 request.keep_alive() ? "keep-alive, X-Engine-Secret" : "close, X-Engine-Secret");
    response.set("X-Engine-Secret", "must not reach the client");
    response.set(http::field::keep_alive, "timeout=30, max=100");
    response.set(http::field::proxy_connection, "keep-alive");
    response.set("X-Engine-Visible", "yes");
    response.body() = "hop-by-hop";
    response.prepare_payload();
    return response;
  }

  static net::awaitable<void> write_large(beast::tcp_stream& stream, const Request& request,
                                          std::uint64_t bytes) {
    auto head = chunked_head(request, "application/octet-stream");
    http::response_serializer<http::empty_body> serializer(head);
    co_await http::async_write_header(stream, serializer, net::use_awaitable);
    std::string chunk;
    for (std::uint64_t offset = 0; offset < bytes; offset += chunk.size()) {
      chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(large_chunk_size, bytes - offset)));
      for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = large_body_byte(offset + i);
      co_await net::async_write(stream, http::make_chunk(net::buffer(chunk)), net::use_awaitable);
    }
    co_await net::async_write(stream, http::make_chunk_last(), net::use_awaitable);
  }

  net::awaitable<void> write_sse(beast::tcp_stream& stream, const Request& request, const Target& target) {
    const auto events = target.number("events", 3);
    const bool hold = target.number("hold", 0) == 1;
    const bool linger = target.number("linger", 0) == 1;
    const std::string padding = target.query.count("pad") != 0
                                    ? ": " + std::string(target.number("pad", 0), 'x') + "\n"
                                    : std::string();
    auto head = chunked_head(request, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    http::response_serializer<http::empty_body> serializer(head);
    co_await http::async_write_header(stream, serializer, net::use_awaitable);

    for (std::uint64_t k = 1; k <= events; ++k) {
      const std::string event = padding + "event: token\ndata: " + std::to_string(k) + "\n\n";
      co_await net::async_write(stream, http::make_chunk(net::buffer(event)), net::use_awaitable);
      if (hold && k == 1) co_await wait_for_release();
    }
    const std::string done = "event: done\ndata: end\n\n";
    co_await net::async_write(stream, http::make_chunk(net::buffer(done)), net::use_awaitable);
    if (linger) {
      const std::string comment = ": still open\n\n";
      co_await net::async_write(stream, http::make_chunk(net::buffer(comment)), net::use_awaitable);
      while (!linger_released_) {
        beast::error_code ec;  // end_lingering_streams() cancels the wait
        co_await linger_gate_.async_wait(net::redirect_error(net::use_awaitable, ec));
      }
    }
    co_await net::async_write(stream, http::make_chunk_last(), net::use_awaitable);
  }

  net::awaitable<void> wait_for_release() {
    while (!hold_released_) {
      beast::error_code ec;  // release_hold() cancels the wait: the expected way out
      co_await hold_gate_.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }

  static net::awaitable<void> write_slow(beast::tcp_stream& stream, const Request& request,
                                         std::uint64_t milliseconds) {
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(milliseconds));
    co_await timer.async_wait(net::use_awaitable);
    auto response = json_response(request, to_json([&](JsonWriter& json) {
      json.Key("slept_ms");
      json.Uint64(milliseconds);
    }));
    co_await write(stream, std::move(response));
  }

  static net::awaitable<void> echo_websocket(beast::tcp_stream stream, Request upgrade) {
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    co_await ws.async_accept(upgrade, net::use_awaitable);
    beast::flat_buffer message;
    for (;;) {
      beast::error_code ec;
      co_await ws.async_read(message, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      ws.binary(ws.got_binary());
      co_await ws.async_write(message.data(), net::use_awaitable);
      message.consume(message.size());
    }
  }

  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  net::steady_timer hold_gate_;  // never expires; cancelled by release_hold()
  bool hold_released_ = false;   // engine thread only
  net::steady_timer linger_gate_;  // never expires; cancelled by end_lingering_streams()
  bool linger_released_ = false;   // engine thread only
  std::atomic<std::size_t> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
  ReceivedRequest last_request_;
  std::thread thread_;
};

TestEngine::TestEngine() : impl_(std::make_unique<Impl>()) {}
TestEngine::~TestEngine() = default;
std::uint16_t TestEngine::port() const { return impl_->port(); }
void TestEngine::release_hold() { impl_->release_hold(); }

void TestEngine::end_lingering_streams() { impl_->end_lingering_streams(); }
std::size_t TestEngine::connections_accepted() const { return impl_->connections_accepted(); }
std::vector<std::string> TestEngine::received_targets() const { return impl_->received_targets(); }
ReceivedRequest TestEngine::last_request() const { return impl_->last_request(); }

}  // namespace baton::test
