#include "baton/proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <stdexcept>

namespace baton::proxy {
namespace {

// An idle connection on which the engine has closed (or sent something unasked) is not
// worth a request. One non-blocking peek answers that without waiting.
bool peer_has_closed(TcpSocket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

constexpr auto peek_after_idle = std::chrono::milliseconds(50);

}  // namespace

UpstreamPool::UpstreamPool(Executor executor, const core::UpstreamConfig& config,
                           std::vector<tcp::endpoint> endpoints)
    : executor_(std::move(executor)),
      config_(config),
      endpoints_(std::move(endpoints)),
      expiry_timer_(executor_) {}

bool UpstreamPool::expired(const UpstreamConnection& connection,
                           std::chrono::steady_clock::time_point now) const {
  return now - connection.idle_since >= config_.pool_idle_timeout;
}

UpstreamConnectionPtr UpstreamPool::take_idle() {
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    UpstreamConnectionPtr connection = std::move(idle_.back());
    idle_.pop_back();
    if (expired(*connection, now)) {
      idle_.clear();  // every older one has expired too
      break;
    }
    // Under load a connection comes back within microseconds, too soon for the engine to
    // have dropped it, and the peek would be a system call per request for nothing.
    const bool worth_a_peek = now - connection->idle_since >= peek_after_idle;
    if (!worth_a_peek || !peer_has_closed(connection->stream.socket())) {
      connection->reused = true;
      return connection;
    }
  }
  return nullptr;
}

Awaitable<UpstreamConnectResult> UpstreamPool::connect() {
  UpstreamConnectResult result;
  result.connection = std::make_unique<UpstreamConnection>(executor_);
  auto& stream = result.connection->stream;
  stream.expires_after(config_.connect_timeout);
  co_await net::async_connect(stream.socket(), endpoints_,
                              net::redirect_error(use_awaitable, result.error));
  result.error = stream.outcome(result.error);
  if (result.error) {
    result.connection.reset();
    co_return result;
  }
  stream.socket().set_option(tcp::no_delay(true));
  co_return result;
}

void UpstreamPool::give_back(UpstreamConnectionPtr connection) {
  if (closed_ || idle_.size() >= config_.pool_size) return;
  connection->stream.expires_never();
  connection->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(connection));
  arm_expiry();
}

void UpstreamPool::close_all() {
  closed_ = true;
  idle_.clear();
  expiry_timer_.cancel();
}

void UpstreamPool::drop_expired() {
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty() && expired(*idle_.front(), now)) idle_.pop_front();
}

// One timer for the whole pool, set for the oldest idle connection.
void UpstreamPool::arm_expiry() {
  if (expiry_armed_ || idle_.empty()) return;
  expiry_armed_ = true;
  expiry_timer_.expires_at(idle_.front()->idle_since + config_.pool_idle_timeout);
  expiry_timer_.async_wait([this](beast::error_code error) {
    expiry_armed_ = false;
    if (error) return;
    drop_expired();
    arm_expiry();
  });
}

std::vector<tcp::endpoint> resolve_upstream(const core::HttpUrl& url) {
  net::io_context io;
  tcp::resolver resolver(io);
  beast::error_code error;
  auto results = resolver.resolve(url.host, std::to_string(url.port), error);
  if (error) {
    throw std::runtime_error("cannot resolve upstream " + url.host + ": " + error.message());
  }
  return {results.begin(), results.end()};
}

}  // namespace baton::proxy
