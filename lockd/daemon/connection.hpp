// One client connection to baton-lockd: requests one after another (keep-alive), each
// read within small size and time limits, decided by the API, carried out on the
// worker's lease store, and answered.
#pragma once

#include "api_replies.hpp"
#include "baton/core/asio.hpp"
#include "baton/core/timed_socket.hpp"
#include "baton/lease/lease_store.hpp"

#include <chrono>
#include <cstddef>

namespace baton::lockd {

class Worker;

// Requests need no body: every parameter is in the target.
inline constexpr std::size_t max_header_bytes = 8 * 1024;  // larger: 431
inline constexpr std::size_t max_body_bytes = 4 * 1024;    // larger: 413
inline constexpr std::chrono::seconds request_timeout{10};  // head and body; slower: 408
inline constexpr std::chrono::seconds send_timeout{10};     // a client that stops reading
inline constexpr std::chrono::seconds idle_timeout{60};     // keep-alive between requests

class Connection {
public:
  Connection(Worker& worker, TcpSocket socket);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Awaitable<void> run();

  // Drain: closes the connection if it is waiting for a request; no-op otherwise.
  void close_if_idle();

private:
  // Waits for the first byte of the next request within the idle timeout.
  Awaitable<bool> wait_for_request();
  // Reads, decides, carries out and answers one request. False when the connection must close.
  Awaitable<bool> serve_request();
  Awaitable<bool> send(Reply reply, bool keep_alive);
  // A lease whose reply did not reach its caller: nobody else knows its token.
  Awaitable<void> give_back(lease::Lease lease);
  // Closes after an error reply without losing it to a reset: stop sending, then read and
  // discard what the client still sends, briefly.
  Awaitable<void> lingering_close();
  bool peer_has_closed();

  Worker& worker_;
  core::TimedSocket stream_;
  beast::flat_buffer buffer_;
  bool idle_ = false;
};

// Spawned by the accept loop for each accepted socket.
Awaitable<void> serve_connection(Worker& worker, TcpSocket socket);

}  // namespace baton::lockd
