// Keep-alive connections from one worker thread to the engine.
//
// Idle connections are reused newest first and dropped after pool_idle_timeout, which
// stays below the engine's own keep-alive timeout so that baton, not the engine, closes
// them: a request written to a connection the engine is closing at that instant would
// fail after it left baton.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/core/timed_socket.hpp"

#include <deque>
#include <memory>
#include <vector>

namespace baton::proxy {

struct UpstreamConnection {
  explicit UpstreamConnection(const Executor& executor) : stream(executor) {}

  core::TimedSocket stream;
  beast::flat_buffer buffer;  // bytes read past the last response stay with the connection
  bool reused = false;        // came from the pool: the engine may have closed it meanwhile
  std::chrono::steady_clock::time_point idle_since;
};
using UpstreamConnectionPtr = std::unique_ptr<UpstreamConnection>;

struct UpstreamConnectResult {
  beast::error_code error;
  UpstreamConnectionPtr connection;
};

class UpstreamPool {
public:
  // `endpoints` is the engine address, resolved once at start.
  UpstreamPool(Executor executor, const core::UpstreamConfig& config,
               std::vector<tcp::endpoint> endpoints);

  // An idle connection that is still open, or nullptr.
  UpstreamConnectionPtr take_idle();

  // A new connection, or the error of the last endpoint tried.
  Awaitable<UpstreamConnectResult> connect();

  // Gives back a connection whose last exchange ended cleanly; beyond pool_size it is closed.
  void give_back(UpstreamConnectionPtr connection);

  // Closes every idle connection and stops expiring them (drain).
  void close_all();


private:
  bool expired(const UpstreamConnection& connection,
               std::chrono::steady_clock::time_point now) const;
  void arm_expiry();
  void drop_expired();

  Executor executor_;
  core::UpstreamConfig config_;
  std::vector<tcp::endpoint> endpoints_;
  std::deque<UpstreamConnectionPtr> idle_;  // oldest at the front
  SteadyTimer expiry_timer_;
  bool expiry_armed_ = false;
  bool closed_ = false;
};

// Resolves the engine address once, at start (may block: never call on a worker loop).
std::vector<tcp::endpoint> resolve_upstream(const core::HttpUrl& url);

}  // namespace baton::proxy
