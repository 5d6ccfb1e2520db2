#include "baton/proxy/exchange.hpp"

#include "baton/proxy/headers.hpp"
#include "baton/proxy/tunnel.hpp"
#include "baton/proxy/worker.hpp"

#include <limits>

namespace baton::proxy {
namespace {

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

const ErrorReply upstream_unreachable{http::status::bad_gateway, "upstream_unreachable",
                                      "the engine cannot be reached"};
const ErrorReply upstream_failed{http::status::bad_gateway, "upstream_error",
                                 "the engine closed the connection without a valid response"};
const ErrorReply upstream_timeout{http::status::gateway_timeout, "upstream_timeout",
                                  "the engine did not answer in time"};
const ErrorReply body_too_large{http::status::payload_too_large, "body_too_large",
                                "the request body is larger than client.max_body_size"};
const ErrorReply body_timeout{http::status::request_timeout, "request_timeout",
                              "the request body did not arrive in time"};
const ErrorReply bad_body{http::status::bad_request, "bad_request",
                          "the request body is not valid HTTP/1.1 framing"};

bool expects_continue(const RequestHeader& request) {
  return request.version() >= 11 && beast::iequals(request[http::field::expect], "100-continue");
}

}  // namespace

// Where sending a request or reading its response head went wrong.
struct Exchange::Attempt {
  enum class Fault { none, upstream, upstream_timeout, client_gone, client_body };
  Fault fault = Fault::none;
  ErrorReply client_reply{};  // for client_body
  bool response_started = false;

  static Attempt ok() { return {}; }
  static Attempt upstream_error(const beast::error_code& error, bool response_started) {
    return {error == beast::error::timeout ? Fault::upstream_timeout : Fault::upstream, {},
            response_started};
  }
};

Exchange::Exchange(Worker& worker, ClientSide& client, RequestParser& request,
                   std::string request_id)
    : worker_(worker),
      client_(client),
      request_(request),
      request_id_(std::move(request_id)),
      method_(request.get().method()),
      client_keep_alive_(request.get().keep_alive()),
      client_understands_chunked_(request.get().version() >= 11),
      wants_tunnel_(is_websocket_upgrade(request.get())),
      request_has_body_(!request.is_done()) {}

Awaitable<ExchangeResult> Exchange::run() {
  auto& request = request_.get();
  if (auto length = request_.content_length();
      length && *length > worker_.config().client.max_body_size) {
    co_return ExchangeResult::fail(body_too_large);
  }
  if (request_has_body_ && expects_continue(request)) {
    beast::error_code error;
    client_.stream.expires_after(worker_.config().client.send_timeout);
    co_await net::async_write(client_.stream, net::buffer(continue_line),
                              net::redirect_error(use_awaitable, error));
    if (error) co_return ExchangeResult::close();
  }
  prepare_upstream_request(request, {client_.address, request_id_}, wants_tunnel_);
  request.version(11);  // keep-alive to the engine whatever the client speaks

  auto& pool = worker_.upstream();
  // A pooled connection may have been closed by the engine an instant ago. A request
  // without a body is still whole in memory and can go again on a fresh connection.
  for (bool may_retry = true;; may_retry = false) {
    UpstreamConnectionPtr upstream = may_retry ? pool.take_idle() : nullptr;
    if (!upstream) {
      auto connected = co_await pool.connect();
      if (connected.error) co_return ExchangeResult::fail(upstream_unreachable);
      upstream = std::move(connected.connection);
    }
    Attempt attempt = co_await send_request(*upstream);
    if (attempt.fault == Attempt::Fault::none) attempt = co_await read_response_head(*upstream);

    switch (attempt.fault) {
      case Attempt::Fault::none:
        co_return co_await relay_response(std::move(upstream));
      case Attempt::Fault::client_gone:
        co_return ExchangeResult::close();
      case Attempt::Fault::client_body:
        co_return ExchangeResult::fail(attempt.client_reply);
      case Attempt::Fault::upstream_timeout:
        co_return ExchangeResult::fail(upstream_timeout);
      case Attempt::Fault::upstream:
        if (may_retry && upstream->reused && !request_has_body_ && !attempt.response_started) {
          continue;
        }
        co_return ExchangeResult::fail(upstream_failed);
    }
  }
}

Awaitable<beast::error_code> Exchange::read_request_body_piece() {
  auto& body = request_.get().body();
  body.data = relay_buffer_.data();
  body.size = relay_buffer_.size();
  client_.stream.expires_after(worker_.config().client.idle_timeout);
  beast::error_code error;
  co_await http::async_read_some(client_.stream, client_.buffer, request_,
                                 net::redirect_error(use_awaitable, error));
  if (error == http::error::need_buffer) error = {};
  body.size = relay_buffer_.size() - body.size;
  body.data = relay_buffer_.data();
  body.more = !request_.is_done();
  co_return error;
}

Awaitable<Exchange::Attempt> Exchange::send_request(UpstreamConnection& upstream) {
  http::request_serializer<http::buffer_body> serializer{request_.get()};
  auto& body = request_.get().body();
  body = {};
  for (;;) {
    if (!request_.is_done()) {
      beast::error_code error = co_await read_request_body_piece();
      if (error == http::error::body_limit) co_return Attempt{Attempt::Fault::client_body, body_too_large};
      if (error == beast::error::timeout) co_return Attempt{Attempt::Fault::client_body, body_timeout};
      if (error == http::error::end_of_stream || error == net::error::eof ||
          error == net::error::connection_reset) {
        co_return Attempt{Attempt::Fault::client_gone};
      }
      if (error) co_return Attempt{Attempt::Fault::client_body, bad_body};
    } else {
      body = {nullptr, 0, false};
    }
    beast::error_code error;
    upstream.stream.expires_after(worker_.config().upstream.read_timeout);
    co_await http::async_write(upstream.stream, serializer,
                               net::redirect_error(use_awaitable, error));
    if (error == http::error::need_buffer) error = {};
    if (error) co_return Attempt::upstream_error(error, false);
    if (serializer.is_done()) co_return Attempt::ok();
  }
}

Awaitable<Exchange::Attempt> Exchange::read_response_head(UpstreamConnection& upstream) {
  // Interim responses (103 Early Hints) are dropped; 101 ends the head for a tunnel.
  for (;;) {
    response_.emplace();
    response_->body_limit(std::numeric_limits<std::uint64_t>::max());  // streams have none
    if (method_ == http::verb::head) response_->skip(true);
    beast::error_code error;
    upstream.stream.expires_after(worker_.config().upstream.read_timeout);
    co_await http::async_read_header(upstream.stream, upstream.buffer, *response_,
                                     net::redirect_error(use_awaitable, error));
    if (error) co_return Attempt::upstream_error(error, response_->got_some());
    const unsigned status = response_->get().result_int();
    if (status >= 200 || status == 101) co_return Attempt::ok();
  }
}

Awaitable<ExchangeResult> Exchange::relay_response(UpstreamConnectionPtr upstream) {
  auto& response = response_->get();
  if (wants_tunnel_ && response.result() == http::status::switching_protocols) {
    co_return co_await tunnel(std::move(upstream));
  }
  const bool engine_keeps_alive = response.keep_alive();
  const bool has_body = response_has_body(method_, response.result_int());
  prepare_client_response(response, request_id_, false);

  bool keep_alive = client_keep_alive_ && !worker_.draining();
  if (has_body && !response_->content_length()) {
    if (client_understands_chunked_) {
      response.chunked(true);
    } else {
      keep_alive = false;  // an HTTP/1.0 client learns the end from the close
    }
  }
  response.keep_alive(keep_alive);
  if (keep_alive && !client_understands_chunked_) response.set(http::field::connection, "keep-alive");

  http::response_serializer<http::buffer_body> serializer{response};
  auto& body = response.body();
  const auto& upstream_config = worker_.config().upstream;
  const auto send_timeout = worker_.config().client.send_timeout;
  beast::error_code error;

  if (!has_body) {
    client_.stream.expires_after(send_timeout);
    co_await http::async_write_header(client_.stream, serializer,
                                      net::redirect_error(use_awaitable, error));
    if (error) co_return ExchangeResult::close();
  } else {
    // The head goes out at once unless body bytes are already here to go with it: an
    // event stream's client must see the head before the first event exists.
    bool head_sent = false;
    while (!serializer.is_done()) {
      if (response_->is_done()) {
        body = {nullptr, 0, false};
      } else if (head_sent || upstream->buffer.size() > 0) {
        body.data = relay_buffer_.data();
        body.size = relay_buffer_.size();
        upstream->stream.expires_after(upstream_config.read_timeout);
        co_await http::async_read_some(upstream->stream, upstream->buffer, *response_,
                                       net::redirect_error(use_awaitable, error));
        if (error == http::error::need_buffer) error = {};
        if (error) co_return ExchangeResult::close();  // cut the stream: the client must not take it as whole
        body.size = relay_buffer_.size() - body.size;
        body.data = relay_buffer_.data();
        body.more = !response_->is_done();
        if (body.size == 0 && body.more) continue;  // a chunk header, no data yet
      } else {
        body = {nullptr, 0, true};
      }
      client_.stream.expires_after(send_timeout);
      co_await http::async_write(client_.stream, serializer,
                                 net::redirect_error(use_awaitable, error));
      if (error == http::error::need_buffer) error = {};
      if (error) co_return ExchangeResult::close();
      head_sent = true;
    }
  }

  if (engine_keeps_alive && response_->is_done()) worker_.upstream().give_back(std::move(upstream));
  co_return ExchangeResult{keep_alive, std::nullopt};
}

Awaitable<ExchangeResult> Exchange::tunnel(UpstreamConnectionPtr upstream) {
  auto& response = response_->get();
  prepare_client_response(response, request_id_, true);
  http::response_serializer<http::buffer_body> serializer{response};
  response.body() = {nullptr, 0, false};
  beast::error_code error;
  client_.stream.expires_after(worker_.config().client.send_timeout);
  co_await http::async_write_header(client_.stream, serializer,
                                    net::redirect_error(use_awaitable, error));
  if (error) co_return ExchangeResult::close();
  client_.stream.expires_never();
  upstream->stream.expires_never();
  co_await splice(client_.stream.socket(), client_.buffer, upstream->stream.socket(),
                  upstream->buffer, worker_.config().upstream.read_timeout);
  co_return ExchangeResult::close();
}

}  // namespace baton::proxy
