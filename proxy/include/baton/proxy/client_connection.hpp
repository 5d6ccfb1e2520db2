// One client connection: reads requests one after another (keep-alive), turns what
// cannot be forwarded into an error reply, and hands each request to an Exchange.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/timed_socket.hpp"
#include "baton/proxy/error_response.hpp"
#include "baton/proxy/request_head.hpp"
#include "baton/proxy/request_record.hpp"

#include <array>
#include <string>

namespace baton::proxy {

class Worker;

// The client end of an exchange: what forwarding code reads from and writes to.
struct ClientSide {
  core::TimedSocket stream;
  beast::flat_buffer buffer;  // bytes read past the current request head
  std::string address;        // peer address, for X-Forwarded-For
  // Body pieces pass through here in both directions. It belongs to the connection,
  // not the request, so that no request allocates it.
  std::array<char, 8192> relay_buffer;
  std::string head;  // the head being sent, either way; its capacity is reused
};

class ClientConnection {
public:
  ClientConnection(Worker& worker, TcpSocket socket);
  ~ClientConnection();

  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  Awaitable<void> run();

  // Drain: closes the connection if it is waiting for a request; no-op otherwise.
  void close_if_idle();

private:
  // Waits for the first byte of the next request within the idle timeout.
  Awaitable<bool> wait_for_request();
  // Reads, checks and forwards one request. False when the connection must close.
  Awaitable<bool> serve_request();
  // Reads one request head into `parser` within the deadline already set, as
  // http::async_read_header does, looking at the raw bytes on the way.
  Awaitable<HeadRead> read_head(RequestParser& parser);
  // Answers a request baton will not serve, then closes (returns false).
  Awaitable<bool> refuse(const ErrorReply& reply, RequestRecord& record);
  // Sends baton's own answer, and notes it in the record. False when it could not be sent.
  Awaitable<bool> reply_error(const ErrorReply& reply, RequestRecord& record);
  // The request has ended: to the metrics and the access log.
  void request_done(RequestRecord& record);
  // Closes after an error without losing the reply to a reset: stop sending, then
  // read and discard what the client still sends, briefly.
  Awaitable<void> lingering_close();

  Worker& worker_;
  ClientSide client_;
  bool idle_ = false;
};

// Spawned by the accept loop for each accepted socket.
Awaitable<void> serve_client(Worker& worker, TcpSocket socket);

}  // namespace baton::proxy
