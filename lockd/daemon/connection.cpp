#include "connection.hpp"

#include "http_api.hpp"
#include "lease_calls.hpp"
#include "worker.hpp"

#include <spdlog/spdlog.h>

#include <array>

namespace baton::lockd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto lingering_time = std::chrono::seconds(2);
constexpr std::size_t lingering_bytes = 64 * 1024;

// What a client hears when its request cannot be read.
Reply reply_for_read_error(const beast::error_code& error) {
  if (error == beast::error::timeout)
    return error_reply(http::status::request_timeout, "request_timeout", "the request did not arrive in time");
  if (error == http::error::header_limit || error == http::error::buffer_overflow)
    return error_reply(http::status::request_header_fields_too_large, "header_too_large",
                       "the request head is larger than 8 KiB");
  if (error == http::error::body_limit)
    return error_reply(http::status::payload_too_large, "body_too_large",
                       "the API takes no request body; this one is larger than 4 KiB");
  return error_reply(http::status::bad_request, "bad_request", "the request is not valid HTTP/1.1");
}

bool client_went_away(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == net::error::eof || error == net::error::connection_reset ||
         error == net::error::operation_aborted;
}

// Logs carry the path only: the query holds lease tokens.
std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

Connection::Connection(Worker& worker, TcpSocket socket) : worker_(worker), stream_(std::move(socket)) {
  worker_.add(*this);
}

Connection::~Connection() { worker_.remove(*this); }

void Connection::close_if_idle() {
  if (idle_) stream_.socket().cancel();
}

Awaitable<void> Connection::run() {
  while (co_await wait_for_request()) {
    if (!co_await serve_request()) break;
  }
  beast::error_code ignored;
  stream_.socket().shutdown(net::socket_base::shutdown_send, ignored);
  stream_.close();
}

Awaitable<bool> Connection::wait_for_request() {
  if (buffer_.size() > 0) co_return true;  // pipelined: the next request is here
  if (worker_.draining()) co_return false;
  idle_ = true;
  stream_.expires_after(idle_timeout);
  beast::error_code error;
  const std::size_t n =
      co_await stream_.async_read_some(buffer_.prepare(1024), net::redirect_error(use_awaitable, error));
  idle_ = false;
  buffer_.commit(n);
  co_return !error;
}

Awaitable<bool> Connection::serve_request() {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
  parser.body_limit(max_body_bytes);

  stream_.expires_after(request_timeout);
  beast::error_code error;
  co_await http::async_read_header(stream_, buffer_, parser, net::redirect_error(use_awaitable, error));
  // Beast 1.74 can skip the Content-Length check against body_limit (fixed in 1.76).
  if (!error && parser.content_length() && *parser.content_length() > max_body_bytes) error = http::error::body_limit;
  if (!error && !parser.is_done())
    co_await http::async_read(stream_, buffer_, parser, net::redirect_error(use_awaitable, error));
  error = stream_.outcome(error);
  if (error) {
    if (client_went_away(error)) co_return false;
    if (co_await send(reply_for_read_error(error), false)) co_await lingering_close();
    co_return false;
  }

  const auto& request = parser.get();
  const auto started = Clock::now();
  // No deadline while the store works: it bounds the time itself (the wait, plus its
  // command timeouts), and a waiting acquire must not be cut by a socket timeout.
  stream_.expires_never();
  Outcome outcome =
      co_await carry_out(decide(request.method(), request.target(), worker_.api()), worker_.store(), worker_.metrics());

  const bool keep_alive = request.keep_alive() && !worker_.draining();
  const http::status status = outcome.reply.status;
  const std::string_view code = outcome.reply.code;
  // A caller that gave up while its acquire waited would never learn the token.
  bool delivered = false;
  if (!outcome.granted || !peer_has_closed()) delivered = co_await send(std::move(outcome.reply), keep_alive);
  if (outcome.granted && !delivered) co_await give_back(std::move(*outcome.granted));

  if (worker_.access_log()) {
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    spdlog::info("{} {} {} {} {}ms{}", request.method_string(), path_of(request.target()), static_cast<unsigned>(status),
                 code, elapsed.count(), delivered ? "" : " (reply not delivered)");
  }
  co_return delivered && keep_alive;
}

Awaitable<bool> Connection::send(Reply reply, bool keep_alive) {
  auto response = to_response(reply, keep_alive);
  worker_.metrics().count_response(reply.status);
  stream_.expires_after(send_timeout);
  beast::error_code error;
  co_await http::async_write(stream_, response, net::redirect_error(use_awaitable, error));
  co_return !error;
}

Awaitable<void> Connection::give_back(lease::Lease lease) {
  const std::string key = lease.session;
  try {
    const lease::ReleaseStatus status = co_await worker_.store().release(std::move(lease));
    if (status == lease::ReleaseStatus::backend_down)
      spdlog::warn("lease on '{}' not released after its caller went away: backend down; it ends at its TTL", key);
    else
      spdlog::info("lease on '{}' released: its caller went away before the reply", key);
  } catch (const std::exception& error) {
    spdlog::warn("lease on '{}' not released after its caller went away: {}; it ends at its TTL", key, error.what());
  }
}

Awaitable<void> Connection::lingering_close() {
  beast::error_code error;
  stream_.socket().shutdown(net::socket_base::shutdown_send, error);
  stream_.expires_after(lingering_time);
  std::array<char, 4096> discard;
  for (std::size_t total = 0; !error && total < lingering_bytes;) {
    total += co_await stream_.async_read_some(net::buffer(discard), net::redirect_error(use_awaitable, error));
  }
}

bool Connection::peer_has_closed() {
  if (buffer_.size() > 0) return false;  // it sent its next request already
  auto& socket = stream_.socket();
  beast::error_code error;
  socket.non_blocking(true, error);
  char byte = 0;
  socket.receive(net::buffer(&byte, 1), net::socket_base::message_peek, error);
  beast::error_code ignored;
  socket.non_blocking(false, ignored);
  return error == net::error::eof || error == net::error::connection_reset;
}

Awaitable<void> serve_connection(Worker& worker, TcpSocket socket) {
  Connection connection(worker, std::move(socket));
  co_await connection.run();
}

}  // namespace baton::lockd
