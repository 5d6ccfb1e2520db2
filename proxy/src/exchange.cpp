#include "baton/proxy/exchange.hpp"

#include "baton/proxy/body_relay.hpp"
#include "baton/proxy/headers.hpp"
#include "baton/proxy/proxy_metrics.hpp"
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
const ErrorReply trailer_too_large{http::status::request_header_fields_too_large, "header_too_large",
                                   "the request's trailer fields are larger than client.max_header_size"};

// What a client hears when its body cannot be read (timeouts aside).
const ErrorReply& body_fault(const beast::error_code& error) {
  if (error == http::error::body_limit) return body_too_large;
  if (error == http::error::buffer_overflow || error == http::error::header_limit) return trailer_too_large;
  return bad_body;
}
const ErrorReply session_body_too_large{
    http::status::payload_too_large, "body_too_large",
    "the session id is looked for in the body, which is larger than session.max_json_body"};

bool expects_continue(const RequestHeader& request) {
  return request.version() >= 11 && beast::iequals(request[http::field::expect], "100-continue");
}

UpstreamError upstream_error_kind(const beast::error_code& error) {
  if (error == beast::error::timeout) return UpstreamError::timeout;
  // The engine closed the connection before or in the middle of its response.
  if (error == http::error::end_of_stream || error == http::error::partial_message) return UpstreamError::reset;
  if (error.category() == http::make_error_code(http::error::bad_version).category())
    return UpstreamError::bad_response;
  return UpstreamError::reset;
}

}  // namespace

// Where sending a request or reading its response head went wrong.
struct Exchange::Attempt {
  enum class Fault { none, upstream, upstream_timeout, client_gone, client_body };
  Fault fault = Fault::none;
  ErrorReply client_reply{};  // for client_body
  bool response_started = false;
  beast::error_code error;  // for upstream

  static Attempt ok() { return {}; }
  static Attempt upstream_error(const beast::error_code& error, bool response_started) {
    return {error == beast::error::timeout ? Fault::upstream_timeout : Fault::upstream, {},
            response_started, error};
  }
};

Exchange::Exchange(Worker& worker, ClientSide& client, RequestParser& request,
                   std::string_view request_id, RequestRecord& record)
    : worker_(worker),
      client_(client),
      request_(request),
      request_id_(request_id),
      record_(record),
      method_(request.get().method()),
      client_keep_alive_(request.get().keep_alive()),
      http10_client_(request.get().version() < 11),
      wants_tunnel_(is_websocket_upgrade(request.get())),
      request_has_body_(!request.is_done()),
      lease_(worker, record) {}

Awaitable<ExchangeResult> Exchange::run() {
  ExchangeResult result = co_await forward();
  // Still held: the exchange failed after taking it.
  lease_.release(LeaseEnding::error);
  if (event_scanner_) {
    record_.sse_events = event_scanner_->events();
    worker_.metrics().sse_stream_ended();
  }
  co_return result;
}

Awaitable<ExchangeResult> Exchange::forward() {
  const auto& config = worker_.config();
  lease_.match_route(request_.get());
  if (auto length = request_.content_length(); length && *length > config.client.max_body_size) {
    co_return ExchangeResult::fail(body_too_large);
  }
  // A client that expects 100 Continue sends its body once the lease is held, unless the
  // session id is in that body.
  if (lease_.wants_body()) {
    if (!co_await send_continue_if_expected()) co_return ExchangeResult::close();
    if (auto refused = co_await read_body_for_id()) co_return ExchangeResult::fail(*refused);
  }
  if (auto refused = co_await lease_.take(request_.get(), request_id_, body_for_id_)) {
    co_return ExchangeResult::fail(*refused);
  }
  if (!co_await send_continue_if_expected()) co_return ExchangeResult::close();

  auto& pool = worker_.upstream();
  auto& metrics = worker_.metrics();
  const auto forwarded_at = RequestRecord::Clock::now();
  // A pooled connection may have been closed by the engine an instant ago. A request
  // without a body is still whole in memory and can go again on a fresh connection.
  for (bool may_retry = true;; may_retry = false) {
    UpstreamConnectionPtr upstream = may_retry ? pool.take_idle() : nullptr;
    if (!upstream) {
      auto connected = co_await pool.connect();
      if (connected.error) {
        metrics.upstream_error(UpstreamError::connect);
        co_return ExchangeResult::fail(upstream_unreachable);
      }
      upstream = std::move(connected.connection);
    }
    Attempt attempt = co_await send_request(*upstream);
    if (attempt.fault == Attempt::Fault::none) attempt = co_await read_response_head(*upstream);

    switch (attempt.fault) {
      case Attempt::Fault::none:
        record_.upstream = RequestRecord::Clock::now() - forwarded_at;
        co_return co_await relay_response(std::move(upstream));
      case Attempt::Fault::client_gone:
        co_return ExchangeResult::close();
      case Attempt::Fault::client_body:
        co_return ExchangeResult::fail(attempt.client_reply);
      case Attempt::Fault::upstream_timeout:
        metrics.upstream_error(UpstreamError::timeout);
        co_return ExchangeResult::fail(upstream_timeout);
      case Attempt::Fault::upstream:
        if (may_retry && upstream->reused && !request_has_body_ && !attempt.response_started) {
          continue;
        }
        metrics.upstream_error(upstream_error_kind(attempt.error));
        co_return ExchangeResult::fail(upstream_failed);
    }
  }
}

Awaitable<bool> Exchange::send_continue_if_expected() {
  if (!request_has_body_ || continue_sent_ || !expects_continue(request_.get())) co_return true;
  continue_sent_ = true;
  auto error = co_await write_piece(client_.stream, continue_line, {}, false, false,
                                    worker_.config().client.send_timeout);
  co_return !error;
}

Awaitable<std::optional<ErrorReply>> Exchange::read_body_for_id() {
  const auto limit = lease_.max_body_for_id();
  while (!request_.is_done()) {
    auto read = co_await read_body_piece(client_.stream, client_.buffer, request_,
                                         client_.relay_buffer, worker_.config().client.idle_timeout);
    if (read.error == beast::error::timeout) co_return body_timeout;
    if (read.error) co_return body_fault(read.error);
    record_.bytes_in += read.data.size();
    if (body_for_id_.size() + read.data.size() > limit) co_return session_body_too_large;
    body_for_id_.append(read.data);
  }
  co_return std::nullopt;
}

Awaitable<Exchange::Attempt> Exchange::send_request(UpstreamConnection& upstream) {
  const auto& config = worker_.config();
  const bool chunked = request_.chunked();
  client_.head.clear();
  write_upstream_request_head(
      request_.get(),
      {client_.address, request_id_, chunked, wants_tunnel_, lease_.engine_headers()},
      client_.head);
  std::string_view head = client_.head;
  std::string_view already_read = body_for_id_;  // goes first, as the first piece
  for (;;) {
    std::string_view piece = std::exchange(already_read, {});
    if (piece.empty() && !request_.is_done()) {
      auto read = co_await read_body_piece(client_.stream, client_.buffer, request_,
                                           client_.relay_buffer, config.client.idle_timeout);
      if (read.error == beast::error::timeout) co_return Attempt{Attempt::Fault::client_body, body_timeout};
      if (read.error == http::error::end_of_stream || read.error == net::error::eof ||
          read.error == net::error::connection_reset) {
        co_return Attempt{Attempt::Fault::client_gone};
      }
      if (read.error) co_return Attempt{Attempt::Fault::client_body, body_fault(read.error)};
      record_.bytes_in += read.data.size();
      piece = read.data;
    }
    const bool last = request_.is_done();
    if (!head.empty() || !piece.empty() || last) {
      auto error = co_await write_piece(upstream.stream, head, piece, chunked, last,
                                        config.upstream.read_timeout);
      if (error) co_return Attempt::upstream_error(error, false);
      head = {};
    }
    if (last) co_return Attempt::ok();
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
    error = upstream.stream.outcome(error);
    if (error) co_return Attempt::upstream_error(error, response_->got_some());
    const unsigned status = response_->get().result_int();
    if (status >= 200 || status == 101) co_return Attempt::ok();
  }
}

Awaitable<ExchangeResult> Exchange::relay_response(UpstreamConnectionPtr upstream) {
  const auto& config = worker_.config();
  const auto& response = response_->get();
  record_.status = response.result_int();
  if (wants_tunnel_ && response.result() == http::status::switching_protocols) {
    co_return co_await tunnel(std::move(upstream));
  }
  const bool has_body = response_has_body(method_, response.result_int());
  const bool length_known = !has_body || response_->content_length().has_value();
  // Without a length, HTTP/1.1 clients get chunks as they come; HTTP/1.0 clients learn
  // the end from the close.
  const bool chunked = !length_known && !http10_client_;
  const bool keep_alive =
      client_keep_alive_ && !worker_.draining() && (length_known || chunked);
  ClientResponseInfo info{request_id_, chunked, keep_alive, http10_client_, false};
  info.no_store = lease_.no_store();
  info.no_buffering = lease_.no_buffering();
  client_.head.clear();
  write_client_response_head(response, info, client_.head);
  if (has_body && beast::iequals(response[http::field::content_type].substr(0, 17), "text/event-stream")) {
    event_scanner_.emplace(lease_.watches_done() ? lease_.route()->sse_done : core::SseDone{});
    worker_.metrics().sse_stream_began();
  }

  std::string_view head = client_.head;
  const auto send_timeout = config.client.send_timeout;
  // The head goes out at once unless body bytes came with it: an event stream's client
  // must see the head before the first event exists.
  bool done = !has_body || response_->is_done();
  while (!head.empty() || !done) {
    std::string_view piece;
    if (!done && (head.empty() || upstream->buffer.size() > 0)) {
      auto read = co_await read_body_piece(upstream->stream, upstream->buffer, *response_,
                                           client_.relay_buffer, config.upstream.read_timeout);
      // Cut: the client must never take a broken body for a whole one. The lease ends
      // with the exchange: the engine stopped.
      if (read.error) {
        worker_.metrics().upstream_error(upstream_error_kind(read.error));
        co_return ExchangeResult::close();
      }
      piece = read.data;
      done = response_->is_done();
      if (piece.empty() && !done && head.empty()) continue;  // a chunk header alone
    }
    auto error = co_await write_watched_piece(head, piece, chunked, done);
    if (error) {
      co_await finish_without_client(*upstream);
      co_return ExchangeResult::close();
    }
    head = {};
  }

  // The engine's response is complete: the session is free before the next request.
  lease_.release(LeaseEnding::end);
  if (response.keep_alive() && response_->is_done()) worker_.upstream().give_back(std::move(upstream));
  co_return ExchangeResult{keep_alive, std::nullopt};
}

Awaitable<beast::error_code> Exchange::write_watched_piece(std::string_view head,
                                                           std::string_view piece, bool chunked,
                                                           bool last) {
  const auto send_timeout = worker_.config().client.send_timeout;
  std::optional<std::size_t> done_at;
  if (event_scanner_) done_at = event_scanner_->feed(piece);
  if (!done_at || !lease_.held()) {
    auto error = co_await write_piece(client_.stream, head, piece, chunked, last, send_timeout);
    if (!error) record_.bytes_out += piece.size();
    co_return error;
  }

  // The engine said "done": what came up to here goes out, the session is free at
  // once, and the rest of the stream follows, however long it stays open.
  auto error = co_await write_piece(client_.stream, head, piece.substr(0, *done_at), chunked,
                                    false, send_timeout);
  lease_.release(LeaseEnding::done);
  if (error) co_return error;
  record_.bytes_out += *done_at;
  error = co_await write_piece(client_.stream, {}, piece.substr(*done_at), chunked, last,
                               send_timeout);
  if (!error) record_.bytes_out += piece.size() - *done_at;
  co_return error;
}

Awaitable<void> Exchange::finish_without_client(UpstreamConnection& upstream) {
  const auto read_timeout = worker_.config().upstream.read_timeout;
  while (lease_.held() && !response_->is_done()) {
    auto read = co_await read_body_piece(upstream.stream, upstream.buffer, *response_,
                                         client_.relay_buffer, read_timeout);
    if (read.error) {
      worker_.metrics().upstream_error(upstream_error_kind(read.error));
      break;
    }
    if (event_scanner_ && event_scanner_->feed(read.data)) break;  // done: the session is free
  }
  lease_.release(LeaseEnding::client_gone);
}

Awaitable<ExchangeResult> Exchange::tunnel(UpstreamConnectionPtr upstream) {
  const auto& config = worker_.config();
  client_.head.clear();
  write_client_response_head(response_->get(), {request_id_, false, true, false, true},
                             client_.head);
  auto error = co_await write_piece(client_.stream, client_.head, {}, false, false,
                                    config.client.send_timeout);
  // The engine has accepted the protocol switch; a tunnel is not one request of a session.
  lease_.release(LeaseEnding::end);
  if (error) co_return ExchangeResult::close();
  client_.stream.expires_never();
  upstream->stream.expires_never();
  const SplicedBytes carried = co_await splice(client_.stream.socket(), client_.buffer, upstream->stream.socket(),
                                               upstream->buffer, config.upstream.read_timeout);
  record_.bytes_in += carried.from_a;
  record_.bytes_out += carried.from_b;
  co_return ExchangeResult::close();
}

}  // namespace baton::proxy
