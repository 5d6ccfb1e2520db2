#include "baton/proxy/server.hpp"

#include "baton/core/asio.hpp"
#include "baton/proxy/worker.hpp"

#include <csignal>
#include <thread>

namespace baton::proxy {
namespace {

tcp::endpoint listen_endpoint(const core::HostPort& listen) {
  beast::error_code error;
  auto address = net::ip::make_address(listen.host.empty() ? "0.0.0.0" : listen.host, error);
  if (error) throw std::runtime_error("listen: '" + listen.host + "' is not an IP address");
  return {address, listen.port};
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<const core::Config> config;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  net::io_context control;  // signals and the drain deadline; never on the request path
  std::size_t workers_running = 0;
};

Server::Server(core::Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::make_shared<const core::Config>(std::move(config));
  const auto& cfg = *impl_->config;
  const auto endpoint = listen_endpoint(cfg.listen);
  const auto upstream = resolve_upstream(cfg.upstream.url);
  for (unsigned i = 0; i < cfg.threads; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>(impl_->config, i, endpoint, upstream));
  }
}

Server::~Server() = default;

int Server::run() {
  auto& impl = *impl_;
  const auto& cfg = *impl.config;
  std::signal(SIGPIPE, SIG_IGN);

  net::signal_set signals(impl.control, SIGTERM, SIGINT);
  SteadyTimer drain_deadline(impl.control);
  signals.async_wait([&](beast::error_code error, int signal) {
    if (error) return;
    spdlog::info("signal {}: draining, deadline {} ms", signal, cfg.drain_timeout.count());
    for (auto& worker : impl.workers) worker->drain();
    drain_deadline.expires_after(cfg.drain_timeout);
    drain_deadline.async_wait([&](beast::error_code timer_error) {
      if (timer_error) return;
      spdlog::warn("drain deadline reached; closing the requests still in flight");
      for (auto& worker : impl.workers) worker->stop();
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
  spdlog::info("baton-proxy {} listening on {}:{} with {} thread(s), engine at {}:{}",
               BATON_VERSION, cfg.listen.host, cfg.listen.port, cfg.threads,
               cfg.upstream.url.host, cfg.upstream.url.port);
  impl.control.run();
  for (auto& thread : impl.threads) thread.join();
  spdlog::info("drained; exiting");
  return 0;
}

}  // namespace baton::proxy
