#include "server.hpp"

#include "baton/core/asio.hpp"
#include "baton/lease/store_factory.hpp"
#include "worker.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

namespace baton::lockd {
namespace {

tcp::endpoint listen_endpoint(const core::HostPort& listen) {
  beast::error_code error;
  auto address = net::ip::make_address(listen.host.empty() ? "0.0.0.0" : listen.host, error);
  if (error) throw std::runtime_error("listen: '" + listen.host + "' is not an IP address");
  return {address, listen.port};
}

std::string_view backend_name(core::LeaseBackend backend) {
  return backend == core::LeaseBackend::memory ? "memory" : "redis";
}

}  // namespace

struct Server::Impl {
  explicit Impl(core::LockdConfig loaded)
      : config(std::move(loaded)), stores(config.lease, config.redis, config.instance_id) {
    shared.api = ApiSettings::from(config);
    shared.access_log = config.logging.access_log;
  }

  core::LockdConfig config;
  WorkerShared shared;
  lease::LeaseStoreFactory stores;  // before the workers: their stores come from it
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  net::io_context control;  // signals and the drain deadline; never on the request path
  std::size_t workers_running = 0;
};

Server::Server(core::LockdConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  const auto endpoint = listen_endpoint(impl_->config.listen);
  for (unsigned i = 0; i < impl_->config.threads; ++i)
    impl_->workers.push_back(std::make_unique<Worker>(impl_->shared, i, endpoint, impl_->stores));
}

Server::~Server() = default;

int Server::run() {
  auto& impl = *impl_;
  const auto& cfg = impl.config;
  std::signal(SIGPIPE, SIG_IGN);

  net::signal_set signals(impl.control, SIGTERM, SIGINT);
  SteadyTimer drain_deadline(impl.control);
  const auto stop_all = [&impl] {
    for (auto& worker : impl.workers) worker->stop();
  };
  signals.async_wait([&](beast::error_code error, int signal) {
    if (error) return;
    spdlog::info("signal {}: draining, deadline {} ms", signal, cfg.drain_timeout.count());
    for (auto& worker : impl.workers) worker->drain();
    drain_deadline.expires_after(cfg.drain_timeout);
    drain_deadline.async_wait([&](beast::error_code timer_error) {
      if (timer_error) return;
      spdlog::warn("drain deadline reached; closing the requests still in flight");
      stop_all();
    });
    signals.async_wait([&](beast::error_code second_error, int second_signal) {
      if (second_error) return;
      spdlog::warn("signal {} while draining: closing the requests still in flight", second_signal);
      stop_all();
    });
  });

  impl.workers_running = impl.workers.size();
  auto work = net::make_work_guard(impl.control);
  for (auto& worker : impl.workers) {
    impl.threads.emplace_back([&impl, &work, &signals, &drain_deadline, w = worker.get()] {
      w->run();
      net::post(impl.control, [&] {
        if (--impl.workers_running > 0) return;
        signals.cancel();
        drain_deadline.cancel();
        work.reset();
      });
    });
  }
  spdlog::info("baton-lockd {} listening on {}:{} with {} thread(s), lease backend {}", BATON_VERSION,
               cfg.listen.host, cfg.listen.port, cfg.threads, backend_name(cfg.lease.backend));
  impl.control.run();
  for (auto& thread : impl.threads) thread.join();
  spdlog::info("drained; exiting");
  return 0;
}

}  // namespace baton::lockd
