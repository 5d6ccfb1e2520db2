#include "baton/proxy/worker.hpp"

#include "baton/core/listener.hpp"
#include "baton/proxy/client_connection.hpp"

namespace baton::proxy {

Worker::Worker(std::shared_ptr<const core::Config> config, std::shared_ptr<const ProxyRules> rules,
               unsigned index, const tcp::endpoint& listen, std::vector<tcp::endpoint> upstream,
               lease::LeaseStoreFactory& stores, ProxyMetrics& metrics, const AccessLog* access_log)
    : config_(std::move(config)),
      rules_(std::move(rules)),
      index_(index),
      acceptor_(core::open_listener(io_, listen)),
      upstream_(io_.get_executor(), config_->upstream, std::move(upstream)),
      lease_store_(stores.create(io_.get_executor())),
      watchdog_(std::make_unique<lease::Watchdog>(io_.get_executor(), *lease_store_,
                                                  config_->lease.max_hold)),
      metrics_(metrics),
      access_log_(access_log),
      stop_deadline_(io_) {}

Worker::~Worker() { io_.shutdown(); }

void Worker::run() {
  net::co_spawn(io_, accept_loop(), core::log_unexpected_exception);
  net::co_spawn(io_, publish_renewals(), core::log_unexpected_exception);
  io_.run();
}

void Worker::request_done(const RequestRecord& record) {
  metrics_.request_done(record);
  if (access_log_ != nullptr) access_log_->write(record);
}

Awaitable<void> Worker::publish_renewals() {
  SteadyTimer timer(io_);
  while (!draining_ && !stopping_) {
    const auto renewals = watchdog_->counts().renewals;
    metrics_.lease_renewals(renewals - renewals_published_);
    renewals_published_ = renewals;
    timer.expires_after(std::chrono::seconds(1));
    beast::error_code ignored;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ignored));
  }
}

void Worker::drain() {
  net::post(io_, [this] { begin_drain(); });
}

void Worker::stop() {
  net::post(io_, [this] { release_all_and_stop(); });
}

void Worker::replace_rules(std::shared_ptr<const ProxyRules> rules) {
  net::post(io_, [this, rules = std::move(rules)]() mutable { rules_ = std::move(rules); });
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  upstream_.close_all();
  // close_if_idle ends the connection's wait; it leaves the set as it unwinds.
  auto idle = std::vector<ClientConnection*>(idle_connections_.begin(), idle_connections_.end());
  for (auto* connection : idle) connection->close_if_idle();
  finish_drain_when_idle();
}

// The requests still running lose their lease now; when one of them ends later, its own
// release finds the lease gone and does nothing.
void Worker::release_all_and_stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& lease : watchdog_->unwatch_all()) release_in_background(std::move(lease));
  stop_deadline_.expires_after(config_->redis.command_timeout);
  stop_deadline_.async_wait([this](beast::error_code error) {
    if (!error) io_.stop();
  });
  finish_drain_when_idle();
}

void Worker::finish_drain_when_idle() {
  if (releases_in_flight_ > 0) return;
  if (stopping_ || (draining_ && connections_ == 0)) io_.stop();
}

void Worker::connection_closed() {
  --connections_;
  finish_drain_when_idle();
}

void Worker::release_in_background(lease::Lease lease) {
  ++releases_in_flight_;
  net::co_spawn(io_, release(std::move(lease)), core::log_unexpected_exception);
}

Awaitable<void> Worker::release(lease::Lease lease) {
  const auto status = co_await lease_store_->release(lease);
  if (status == lease::ReleaseStatus::not_held) {
    metrics_.late_release();
    spdlog::info("session {}: lease had already ended (expired or forced) at release", lease.session);
  } else if (status == lease::ReleaseStatus::backend_down) {
    spdlog::warn("session {}: lease store unreachable at release; the lease ends at its TTL",
                 lease.session);
  }
  --releases_in_flight_;
  finish_drain_when_idle();
}

Awaitable<void> Worker::accept_loop() {
  co_await core::accept_connections(
      acceptor_,
      [this](TcpSocket socket) {
        net::co_spawn(io_, serve_client(*this, std::move(socket)), core::log_unexpected_exception);
      },
      "worker " + std::to_string(index_));
}

}  // namespace baton::proxy
