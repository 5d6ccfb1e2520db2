#include "baton/proxy/client_connection.hpp"

#include "baton/proxy/exchange.hpp"
#include "baton/proxy/headers.hpp"
#include "baton/proxy/routes.hpp"
#include "baton/proxy/worker.hpp"

#include <limits>
#include <optional>

namespace baton::proxy {
namespace {

constexpr auto lingering_time = std::chrono::seconds(2);
// nginx's status for a request whose client left before any answer was sent.
constexpr unsigned client_closed_request = 499;
constexpr std::size_t lingering_bytes = 256 * 1024;

ErrorReply bad_request(std::string_view why) { return {http::status::bad_request, "bad_request", why}; }

// What a client hears when its request head cannot be read.
ErrorReply reply_for_read_error(const HeadRead& head) {
  const auto& error = head.error;
  if (error == beast::error::timeout) {
    return {http::status::request_timeout, "request_timeout",
            "the request head did not arrive in time"};
  }
  if (head.line_too_long) {
    return {http::status::uri_too_long, "uri_too_long",
            "the request line is larger than client.max_header_size"};
  }
  if (error == http::error::header_limit || error == http::error::buffer_overflow) {
    return {http::status::request_header_fields_too_large, "header_too_large",
            "the request head is larger than client.max_header_size"};
  }
  if (error == http::error::body_limit) {
    return {http::status::payload_too_large, "body_too_large",
            "the request body is larger than client.max_body_size"};
  }
  if (head.version_refused) {
    return {http::status::http_version_not_supported, "http_version_not_supported",
            "only HTTP/1.0 and HTTP/1.1 are served"};
  }
  return bad_request("the request is not valid HTTP/1.1");
}

std::optional<ErrorReply> reply_for(HeadFault fault) {
  switch (fault) {
    case HeadFault::none:
      return std::nullopt;
    case HeadFault::length_and_encoding:
      return bad_request("Content-Length and Transfer-Encoding together are refused (request smuggling)");
    case HeadFault::encoding_in_http10:
      return bad_request("Transfer-Encoding is not allowed in an HTTP/1.0 request");
    case HeadFault::repeated_length:
      return bad_request("Content-Length must be one field with one value");
    case HeadFault::chunked_not_final:
      return bad_request("Transfer-Encoding must end with chunked, once: the body length is unknown");
    case HeadFault::framing_lookalike:
      return bad_request("Content_Length and Transfer_Encoding are refused: some servers read them as framing");
    case HeadFault::unknown_transfer_coding:
      return ErrorReply{http::status::not_implemented, "unsupported_transfer_coding",
                        "only the chunked transfer coding is supported"};
    case HeadFault::missing_host:
      return bad_request("an HTTP/1.1 request needs a Host field");
    case HeadFault::duplicate_host:
      return bad_request("more than one Host field");
    case HeadFault::bad_host:
      return bad_request("the Host field is not a host and port");
  }
  return std::nullopt;
}

// Why baton answers a request head itself and closes, if it does.
std::optional<ErrorReply> refusal_of(const HeadRead& head, const RequestHeader& request) {
  if (head.error) return reply_for_read_error(head);
  if (head.folded) return bad_request("obsolete line folding (a field line starting with a space or tab) is not accepted");
  return reply_for(check_request_head(request));
}

// The request head, then chunk size lines and trailer fields, gather in the connection's
// input buffer. Bounded, or a trailer section that never ends would grow it for ever;
// the head alone is held to max_header_size by the parser.
std::size_t input_limit(const core::ClientConfig& client) { return client.max_header_size + 64 * 1024; }

bool client_went_away(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == net::error::eof ||
         error == net::error::connection_reset || error == net::error::operation_aborted;
}

std::string peer_address(const TcpSocket& socket) {
  beast::error_code error;
  auto endpoint = socket.remote_endpoint(error);
  return error ? std::string("unknown") : endpoint.address().to_string();
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, TcpSocket socket)
    : worker_(worker),
      client_{core::TimedSocket(std::move(socket)), beast::flat_buffer(input_limit(worker.config().client)), {},
              {}, {}} {
  client_.address = peer_address(client_.stream.socket());
  worker_.connection_opened();
}

ClientConnection::~ClientConnection() {
  worker_.mark_busy(*this);
  worker_.connection_closed();
}

void ClientConnection::close_if_idle() {
  if (idle_) client_.stream.socket().cancel();
}

Awaitable<void> ClientConnection::run() {
  while (co_await wait_for_request()) {
    if (!co_await serve_request()) break;
  }
  beast::error_code ignored;
  client_.stream.socket().shutdown(net::socket_base::shutdown_send, ignored);
  client_.stream.close();
}

Awaitable<bool> ClientConnection::wait_for_request() {
  if (client_.buffer.size() > 0) co_return true;  // pipelined: the next head is here
  if (worker_.draining()) co_return false;
  idle_ = true;
  worker_.mark_idle(*this);
  client_.stream.expires_after(worker_.config().client.idle_timeout);
  beast::error_code error;
  std::size_t n = co_await client_.stream.async_read_some(
      client_.buffer.prepare(1024), net::redirect_error(use_awaitable, error));
  idle_ = false;
  worker_.mark_busy(*this);
  client_.buffer.commit(n);
  co_return !error;
}

Awaitable<bool> ClientConnection::serve_request() {
  const auto& limits = worker_.config().client;
  RequestRecord record;
  record.start_time = std::chrono::system_clock::now();
  record.started = RequestRecord::Clock::now();
  RequestParser parser;
  parser.body_limit(limits.max_body_size);

  client_.stream.expires_after(limits.header_timeout);
  const HeadRead head = co_await read_head(parser);
  if (head.error && client_went_away(head.error)) co_return false;

  RequestId request_id;
  if (head.error) {
    request_id = worker_.request_ids().next();
  } else {
    const auto& request = parser.get();
    auto client_id = request["X-Request-Id"];
    request_id = is_valid_request_id(client_id) ? RequestId(client_id) : worker_.request_ids().next();
    record.method = request.method_string();
    record.path = request_path(request.target());
  }
  record.request_id = request_id;
  if (auto refusal = refusal_of(head, parser.get())) co_return co_await refuse(*refusal, record);

  // The exchange outlives the log line: the record's route name belongs to its rules.
  Exchange exchange(worker_, client_, parser, request_id, record);
  ExchangeResult result = co_await exchange.run();
  bool replied = false;
  if (result.error) replied = co_await reply_error(*result.error, record);
  request_done(record);
  if (replied) co_await lingering_close();
  co_return result.keep_alive;
}

Awaitable<HeadRead> ClientConnection::read_head(RequestParser& parser) {
  const auto limit = static_cast<std::uint32_t>(std::min<std::size_t>(
      worker_.config().client.max_header_size, std::numeric_limits<std::uint32_t>::max()));
  auto& buffer = client_.buffer;
  RequestHeadReader reader(limit);
  beast::error_code error;
  while ((error = reader.parse(parser, buffer)) == http::error::need_more) {
    const std::size_t n = co_await client_.stream.async_read_some(
        buffer.prepare(beast::read_size(buffer, 65536)), net::redirect_error(use_awaitable, error));
    buffer.commit(n);
    error = client_.stream.outcome(error);
    if (error) break;
  }
  co_return reader.finish(error, parser, buffer);
}

Awaitable<bool> ClientConnection::refuse(const ErrorReply& reply, RequestRecord& record) {
  const bool replied = co_await reply_error(reply, record);
  request_done(record);
  if (replied) co_await lingering_close();
  co_return false;
}

void ClientConnection::request_done(RequestRecord& record) {
  if (record.status == 0) record.status = client_closed_request;
  record.duration = RequestRecord::Clock::now() - record.started;
  worker_.request_done(record);
}

Awaitable<bool> ClientConnection::reply_error(const ErrorReply& reply, RequestRecord& record) {
  auto response = make_error_response(reply, record.request_id);
  record.status = response.result_int();
  client_.stream.expires_after(worker_.config().client.send_timeout);
  beast::error_code error;
  co_await http::async_write(client_.stream, response,
                             net::redirect_error(use_awaitable, error));
  if (error) co_return false;
  record.bytes_out += response.body().size();
  co_return true;
}

Awaitable<void> ClientConnection::lingering_close() {
  beast::error_code error;
  client_.stream.socket().shutdown(net::socket_base::shutdown_send, error);
  client_.stream.expires_after(lingering_time);
  std::array<char, 4096> discard;
  for (std::size_t total = 0; !error && total < lingering_bytes;) {
    total += co_await client_.stream.async_read_some(
        net::buffer(discard), net::redirect_error(use_awaitable, error));
  }
}

Awaitable<void> serve_client(Worker& worker, TcpSocket socket) {
  ClientConnection connection(worker, std::move(socket));
  co_await connection.run();
}

}  // namespace baton::proxy
