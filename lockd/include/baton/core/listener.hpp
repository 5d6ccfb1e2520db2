// Listening sockets shared by baton-proxy and baton-lockd: one listener per worker thread
// on the same port (SO_REUSEPORT, the kernel spreads connections), and an accept loop
// that backs off on errors instead of spinning or giving up.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"

#include <exception>
#include <functional>
#include <string_view>

namespace baton::core {

// The address to bind; throws std::runtime_error when `listen.host` is not an IP address.
tcp::endpoint listen_endpoint(const HostPort& listen);

// Binds and listens now, so that a port in use fails the start, not a worker thread.
TcpAcceptor open_listener(net::io_context& io, const tcp::endpoint& endpoint);

// Accepts until the acceptor is closed. Each connection gets TCP_NODELAY and goes to
// `serve`. Out of file descriptors or memory, it waits (10 ms doubling to 1 s) and tries
// again.
Awaitable<void> accept_connections(TcpAcceptor& acceptor, std::function<void(TcpSocket)> serve,
                                   std::string_view who);

// Completion of a detached connection coroutine. The request path reports errors as
// replies; anything thrown is a bug, and costs one connection, not the process.
void log_unexpected_exception(std::exception_ptr exception);

}  // namespace baton::core
