// One request's life after its head has been read: pick an engine connection, forward
// the request (body streamed), relay the response (body streamed, event streams flushed
// as they arrive), give the engine connection back to the pool.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/proxy/client_connection.hpp"
#include "baton/proxy/error_response.hpp"
#include "baton/proxy/request_id.hpp"
#include "baton/proxy/request_record.hpp"
#include "baton/proxy/session_lease.hpp"
#include "baton/proxy/sse_scanner.hpp"
#include "baton/proxy/upstream_pool.hpp"

#include <optional>
#include <string>

namespace baton::proxy {

class Worker;

using ResponseParser = BoundedParser<false>;

// How an exchange leaves the client connection.
struct ExchangeResult {
  bool keep_alive = false;
  std::optional<ErrorReply> error;  // baton's own answer; the connection sends it, then closes

  static ExchangeResult close() { return {}; }
  static ExchangeResult fail(const ErrorReply& reply) { return {false, reply}; }
};

class Exchange {
public:
  // What the exchange does goes into `record`, which must outlive it; the record's views
  // into the route stay valid while the exchange lives.
  Exchange(Worker& worker, ClientSide& client, RequestParser& request, std::string_view request_id,
           RequestRecord& record);

  // When it returns, the lease has ended and the record is complete but for the
  // connection's part (an error reply, the duration).
  Awaitable<ExchangeResult> run();

private:
  struct Attempt;  // the outcome of sending the request and reading the response head

  Awaitable<ExchangeResult> forward();
  Awaitable<Attempt> send_request(UpstreamConnection& upstream);
  // Reads the request body into body_for_id_ when the session id may be in it; an error
  // reply when it is larger than session.max_json_body (413) or does not arrive.
  Awaitable<std::optional<ErrorReply>> read_body_for_id();
  // Answers "100 Continue" once, when the client asked for it. False when the client is gone.
  Awaitable<bool> send_continue_if_expected();
  Awaitable<Attempt> read_response_head(UpstreamConnection& upstream);
  Awaitable<ExchangeResult> relay_response(UpstreamConnectionPtr upstream);
  // The client went away mid-response: the engine is still working for the session, so
  // the lease stays until the engine's response ends (read and dropped).
  Awaitable<void> finish_without_client(UpstreamConnection& upstream);
  // Sends one piece to the client, releasing the lease right after the "done" event's
  // bytes when the route watches for one.
  Awaitable<beast::error_code> write_watched_piece(std::string_view head, std::string_view piece,
                                                   bool chunked, bool last);
  Awaitable<ExchangeResult> tunnel(UpstreamConnectionPtr upstream);

  Worker& worker_;
  ClientSide& client_;
  RequestParser& request_;
  std::string_view request_id_;  // owned by the connection's request
  RequestRecord& record_;
  http::verb method_;
  bool client_keep_alive_;
  bool http10_client_;
  bool wants_tunnel_;
  bool request_has_body_;
  std::optional<ResponseParser> response_;
  SessionLease lease_;
  std::string body_for_id_;  // the body read before forwarding, sent first
  bool continue_sent_ = false;
  // Set when the response is an event stream: counts its events and, on a route that
  // watches for "done" while the lease is held, finds that event.
  std::optional<SseScanner> event_scanner_;
};

}  // namespace baton::proxy
