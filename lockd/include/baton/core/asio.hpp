// The one way baton code includes Asio and Beast. Boost 1.74's asio/awaitable.hpp uses
// std::exchange without including <utility>, so it has to come first.
#pragma once
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace baton {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// Every baton I/O object and coroutine is bound to a concrete io_context executor rather
// than Asio's type-erased default: on the request path the erasure costs a virtual call
// and a copy per operation.
using Executor = net::io_context::executor_type;
template <class T = void>
using Awaitable = net::awaitable<T, Executor>;
inline constexpr net::use_awaitable_t<Executor> use_awaitable{};
using TcpSocket = net::basic_stream_socket<tcp, Executor>;
using TcpAcceptor = net::basic_socket_acceptor<tcp, Executor>;
using TcpStream = beast::basic_stream<tcp, Executor>;
using SteadyTimer =
    net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                              Executor>;
}  // namespace baton
