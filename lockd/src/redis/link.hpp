// One connection to Redis, TCP or TLS, set up with AUTH, SELECT and CLIENT SETNAME.
// Commands are written as soon as they are queued; whatever is queued while a write is
// in flight goes out together in the next one. One loop reads the replies and hands
// each to the owner (Client or Subscriber), which knows whom it answers.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/timed_socket.hpp"
#include "baton/redis/client.hpp"
#include "baton/redis/resp.hpp"

#include <boost/asio/ssl.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace baton::redis {

// TimedSocket as the next layer of asio::ssl::stream, which also asks for lowest_layer().
class TlsNextLayer {
public:
  using executor_type = Executor;
  using lowest_layer_type = TcpSocket::lowest_layer_type;

  explicit TlsNextLayer(core::TimedSocket& socket) : socket_(&socket) {}

  executor_type get_executor() noexcept { return socket_->get_executor(); }
  lowest_layer_type& lowest_layer() noexcept { return socket_->socket(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_->async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_->async_write_some(buffers, std::forward<Token>(token));
  }

private:
  core::TimedSocket* socket_;
};

class Link : public std::enable_shared_from_this<Link> {
public:
  // `tls` is required for rediss:// URLs and ignored otherwise.
  Link(Executor executor, const ClientOptions& options, std::shared_ptr<net::ssl::context> tls);

  // Connects and sets the connection up, all within connect_timeout. Error::auth when
  // AUTH or SELECT is refused, Error::unreachable for everything else; failure() then
  // says what happened, for the log.
  Awaitable<std::error_code> open();

  // Queues one command (not empty: Redis would not answer it), or commands already
  // encoded as RESP; flush() starts writing unless a write is in flight.
  void enqueue(std::span<const std::string> args);
  void enqueue_encoded(std::string_view commands);
  void flush();

  // Reads until the connection fails or is closed, handing every reply to `on_reply`.
  // A reply that `on_reply` refuses (false: nobody asked for it) fails the connection.
  Awaitable<void> read(std::function<bool(Reply&)> on_reply);

  // With replies due, the connection must make progress: the stall deadline restarts
  // now. Without, the connection may idle for ever.
  void replies_due(bool due);

  void close();
  // Set up and not failed or closed.
  bool is_open() const noexcept { return ready_ && !closed_; }
  // Why the connection failed or could not be opened; empty while all is well.
  const std::string& failure() const noexcept { return failure_; }
  // "127.0.0.1:6379", for log lines.
  std::string address() const;

private:
  Awaitable<std::error_code> connect();
  Awaitable<std::optional<Reply>> read_reply();
  Awaitable<std::size_t> read_some(beast::error_code& error);
  void on_written(const beast::error_code& error);
  void fail(std::string reason);
  std::string describe(const beast::error_code& error, core::Duration timeout) const;

  ClientOptions options_;
  std::shared_ptr<net::ssl::context> tls_context_;
  core::TimedSocket socket_;
  std::optional<net::ssl::stream<TlsNextLayer>> tls_;
  ReplyReader reader_;
  std::array<char, 16 * 1024> read_buffer_;
  std::string queued_;   // encoded commands waiting for the write in flight
  std::string writing_;  // the write in flight; the two swap to keep their capacity
  bool write_in_flight_ = false;
  bool ready_ = false;
  bool closed_ = false;
  std::string failure_;
};

}  // namespace baton::redis
