#include "baton/core/listener.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace baton::core {
namespace {

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr auto accept_backoff_min = std::chrono::milliseconds(10);
constexpr auto accept_backoff_max = std::chrono::seconds(1);

}  // namespace

tcp::endpoint listen_endpoint(const HostPort& listen) {
  beast::error_code error;
  auto address = net::ip::make_address(listen.host.empty() ? "0.0.0.0" : listen.host, error);
  if (error) throw std::runtime_error("listen: '" + listen.host + "' is not an IP address");
  return {address, listen.port};
}

TcpAcceptor open_listener(net::io_context& io, const tcp::endpoint& endpoint) {
  TcpAcceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
  return acceptor;
}

Awaitable<void> accept_connections(TcpAcceptor& acceptor, std::function<void(TcpSocket)> serve,
                                   std::string_view who) {
  auto backoff = accept_backoff_min;
  SteadyTimer backoff_timer(acceptor.get_executor());
  while (acceptor.is_open()) {
    beast::error_code error;
    TcpSocket socket = co_await acceptor.async_accept(net::redirect_error(use_awaitable, error));
    if (error == net::error::operation_aborted || !acceptor.is_open()) break;
    if (error) {
      spdlog::warn("{}: accept failed: {}; retrying in {} ms", who, error.message(), backoff.count());
      backoff_timer.expires_after(backoff);
      co_await backoff_timer.async_wait(net::redirect_error(use_awaitable, error));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, accept_backoff_max);
      continue;
    }
    backoff = accept_backoff_min;
    socket.set_option(tcp::no_delay(true), error);
    serve(std::move(socket));
  }
}

void log_unexpected_exception(std::exception_ptr exception) {
  if (!exception) return;
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& error) {
    spdlog::error("connection ended by an exception: {}", error.what());
  }
}

}  // namespace baton::core
