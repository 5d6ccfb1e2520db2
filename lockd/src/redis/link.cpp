#include "link.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <vector>

namespace baton::redis {
namespace {

using Resolver = net::ip::basic_resolver<tcp, Executor>;

bool is_ip_address(const std::string& host) {
  beast::error_code error;
  net::ip::make_address(host, error);
  return !error;
}

// A server that vanished without a FIN (power loss, a NAT that forgot us) is noticed
// on an idle connection within about half a minute instead of the kernel's two hours.
void enable_keepalive(TcpSocket& socket) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.set_option(net::socket_base::keep_alive(true), ignored);
  const int idle_seconds = 15;
  const int interval_seconds = 5;
  const int probes = 3;
  const int fd = socket.native_handle();
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_seconds, sizeof idle_seconds);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_seconds, sizeof interval_seconds);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

// The commands that make a fresh connection ours: credentials, database, name.
std::vector<std::vector<std::string>> setup_commands(const ClientOptions& options) {
  std::vector<std::vector<std::string>> commands;
  const auto& url = options.url;
  if (!url.username.empty())
    commands.push_back({"AUTH", url.username, url.password});
  else if (!url.password.empty())
    commands.push_back({"AUTH", url.password});
  if (url.database != 0) commands.push_back({"SELECT", std::to_string(url.database)});
  if (!options.name.empty()) commands.push_back({"CLIENT", "SETNAME", options.name});
  return commands;
}

long long milliseconds(core::Duration duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

}  // namespace

Link::Link(Executor executor, const ClientOptions& options, std::shared_ptr<net::ssl::context> tls)
    : options_(options), tls_context_(std::move(tls)), socket_(executor) {}

std::string Link::address() const {
  const auto& url = options_.url;
  const bool ipv6 = url.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}{}:{}", url.tls ? "rediss://" : "", ipv6 ? "[" : "", url.host, ipv6 ? "]" : "",
                     url.port);
}

Awaitable<std::error_code> Link::open() {
  socket_.expires_after(options_.connect_timeout);
  if (auto error = co_await connect()) co_return error;

  const auto commands = setup_commands(options_);
  for (const auto& command : commands) enqueue(command);
  flush();
  for (const auto& command : commands) {
    auto reply = co_await read_reply();
    if (!reply) co_return Error::unreachable;
    if (!reply->is_error()) continue;
    const std::string what = command[0] == "CLIENT" ? "CLIENT SETNAME" : command[0];
    if (command[0] == "CLIENT") {
      // Only a label for CLIENT LIST: an ACL that forbids it is no reason to fail.
      spdlog::warn("redis {}: {} refused: {}", address(), what, reply->text);
      continue;
    }
    fail(what + " refused: " + reply->text);
    // A full server says so before it reads anything: that is no verdict on the credentials.
    const bool full = reply->text.find("max number of clients") != std::string::npos;
    co_return full ? Error::unreachable : Error::auth;
  }
  socket_.expires_never();
  ready_ = true;
  co_return std::error_code{};
}

Awaitable<std::error_code> Link::connect() {
  const auto& url = options_.url;
  std::vector<tcp::endpoint> endpoints;
  beast::error_code error;
  if (const auto address = net::ip::make_address(url.host, error); !error) {
    endpoints.emplace_back(address, url.port);
  } else {
    // The socket's deadline does not reach the resolver, whose lookups run on Asio's
    // own thread; a literal address (the usual case) skips it.
    error = {};
    Resolver resolver(socket_.get_executor());
    const auto results = co_await resolver.async_resolve(
        url.host, std::to_string(url.port), net::redirect_error(use_awaitable, error));
    if (error) {
      fail("cannot resolve " + url.host + ": " + error.message());
      co_return Error::unreachable;
    }
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  co_await net::async_connect(socket_.socket(), endpoints, net::redirect_error(use_awaitable, error));
  if (error) {
    fail("connect: " + describe(error, options_.connect_timeout));
    co_return Error::unreachable;
  }
  enable_keepalive(socket_.socket());
  if (!url.tls) co_return std::error_code{};

  tls_.emplace(TlsNextLayer(socket_), *tls_context_);
  // SNI carries host names only (RFC 6066 section 3).
  if (!is_ip_address(url.host)) SSL_set_tlsext_host_name(tls_->native_handle(), url.host.c_str());
  if (options_.tls_verify) {
    tls_->set_verify_mode(net::ssl::verify_peer);
    tls_->set_verify_callback(net::ssl::host_name_verification(url.host));
  } else {
    tls_->set_verify_mode(net::ssl::verify_none);
  }
  co_await tls_->async_handshake(net::ssl::stream_base::client, net::redirect_error(use_awaitable, error));
  if (error) {
    fail("TLS handshake: " + describe(error, options_.connect_timeout));
    co_return Error::unreachable;
  }
  co_return std::error_code{};
}

void Link::enqueue(std::span<const std::string> args) { encode_command(args, queued_); }

void Link::enqueue_encoded(std::string_view commands) { queued_.append(commands); }

void Link::flush() {
  if (write_in_flight_ || queued_.empty() || closed_) return;
  write_in_flight_ = true;
  std::swap(queued_, writing_);
  auto done = [self = shared_from_this()](const beast::error_code& error, std::size_t) {
    self->on_written(error);
  };
  if (tls_)
    net::async_write(*tls_, net::buffer(writing_), std::move(done));
  else
    net::async_write(socket_, net::buffer(writing_), std::move(done));
}

void Link::on_written(const beast::error_code& error) {
  write_in_flight_ = false;
  writing_.clear();
  if (error) {
    fail("write: " + describe(error, options_.stall_timeout));
    return;
  }
  flush();
}

Awaitable<std::size_t> Link::read_some(beast::error_code& error) {
  if (tls_) return tls_->async_read_some(net::buffer(read_buffer_), net::redirect_error(use_awaitable, error));
  return socket_.async_read_some(net::buffer(read_buffer_), net::redirect_error(use_awaitable, error));
}

Awaitable<std::optional<Reply>> Link::read_reply() {
  for (;;) {
    std::error_code protocol_error;
    if (auto reply = reader_.next(protocol_error)) co_return reply;
    if (protocol_error) {
      fail("the server's bytes are not RESP");
      co_return std::nullopt;
    }
    beast::error_code error;
    const std::size_t size = co_await read_some(error);
    if (error) {
      fail("read: " + describe(error, options_.connect_timeout));
      co_return std::nullopt;
    }
    reader_.feed({read_buffer_.data(), size});
  }
}

Awaitable<void> Link::read(std::function<bool(Reply&)> on_reply) {
  const auto self = shared_from_this();
  for (;;) {
    std::error_code protocol_error;
    while (auto reply = reader_.next(protocol_error)) {
      if (!on_reply(*reply)) {
        fail("a reply nobody asked for");
        co_return;
      }
      if (closed_) co_return;
    }
    if (protocol_error) {
      fail("the server's bytes are not RESP");
      co_return;
    }
    if (closed_) co_return;
    beast::error_code error;
    const std::size_t size = co_await read_some(error);
    if (error) {
      fail(describe(error, options_.stall_timeout));
      co_return;
    }
    reader_.feed({read_buffer_.data(), size});
  }
}

void Link::replies_due(bool due) {
  if (due)
    socket_.expires_after(options_.stall_timeout);
  else
    socket_.expires_never();
}

void Link::close() { fail("closed"); }

void Link::fail(std::string reason) {
  if (closed_) return;
  closed_ = true;
  failure_ = std::move(reason);
  socket_.close();
}

std::string Link::describe(const beast::error_code& error, core::Duration timeout) const {
  const auto outcome = socket_.outcome(error);
  if (outcome == beast::error::timeout) return fmt::format("no answer within {} ms", milliseconds(timeout));
  if (outcome == net::error::eof || outcome == net::ssl::error::stream_truncated)
    return "closed by the server";
  return outcome.message();
}

}  // namespace baton::redis
