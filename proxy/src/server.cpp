#include "baton/proxy/server.hpp"

#include "baton/core/listener.hpp"
#include "baton/core/worker_group.hpp"
#include "baton/proxy/worker.hpp"

namespace baton::proxy {

struct Server::Impl {
  explicit Impl(core::Config loaded)
      : config(std::make_shared<const core::Config>(std::move(loaded))),
        rules(std::make_shared<const ProxyRules>(*config)),
        stores(config->lease, config->redis, config->instance_id) {}

  std::shared_ptr<const core::Config> config;
  std::shared_ptr<const ProxyRules> rules;
  lease::LeaseStoreFactory stores;  // before the workers: their stores come from it
  std::vector<std::unique_ptr<Worker>> workers;
};

Server::Server(core::Config config) : impl_(std::make_unique<Impl>(std::move(config))) {
  const auto& cfg = *impl_->config;
  const auto endpoint = core::listen_endpoint(cfg.listen);
  const auto upstream = resolve_upstream(cfg.upstream.url);
  for (unsigned i = 0; i < cfg.threads; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>(impl_->config, impl_->rules, i, endpoint,
                                                      upstream, impl_->stores));
  }
}

Server::~Server() = default;

int Server::run() {
  const auto& cfg = *impl_->config;
  std::vector<core::DrainableWorker*> workers;
  for (auto& worker : impl_->workers) workers.push_back(worker.get());
  spdlog::info("baton-proxy {} listening on {}:{} with {} thread(s), engine at {}:{}",
               BATON_VERSION, cfg.listen.host, cfg.listen.port, cfg.threads,
               cfg.upstream.url.host, cfg.upstream.url.port);
  return core::run_worker_group(workers, cfg.drain_timeout);
}

}  // namespace baton::proxy
