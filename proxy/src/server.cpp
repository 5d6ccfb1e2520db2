#include "baton/proxy/server.hpp"

#include "baton/core/listener.hpp"
#include "baton/core/log.hpp"
#include "baton/core/worker_group.hpp"
#include "baton/proxy/access_log.hpp"
#include "baton/proxy/admin_server.hpp"
#include "baton/proxy/proxy_metrics.hpp"
#include "baton/proxy/reload.hpp"
#include "baton/proxy/worker.hpp"

namespace baton::proxy {

struct Server::Impl {
  explicit Impl(core::Config loaded)
      : config(std::make_shared<const core::Config>(std::move(loaded))),
        rules(std::make_shared<const ProxyRules>(*config)),
        metrics(registry, *config),
        access_log(config->logging.access_log
                       ? std::make_unique<const AccessLog>(config->logging, config->instance_id)
                       : nullptr),
        stores(config->lease, config->redis, config->instance_id, &metrics) {}

  std::shared_ptr<const core::Config> config;
  std::shared_ptr<const ProxyRules> rules;
  core::metrics::Registry registry;  // served by the admin's GET /metrics
  ProxyMetrics metrics;  // before the stores, workers and admin: they report to it
  std::unique_ptr<const AccessLog> access_log;  // null without logging.access_log
  lease::LeaseStoreFactory stores;  // before the workers: their stores come from it
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<AdminServer> admin;  // its own thread and loop, apart from the workers

  // SIGHUP. A file that does not load throws, and the running configuration stays.
  void reload();
};

void Server::Impl::reload() {
  const core::Config next = core::load_config_file(config->file);
  auto next_rules = std::make_shared<const ProxyRules>(next);
  for (auto& worker : workers) worker->replace_rules(next_rules);
  admin->set_tokens(next.admin.tokens);
  core::set_log_level(next.logging.level);
  for (const auto& key : keys_needing_restart(*config, next))
    spdlog::warn("reload: {} changed in {}; it takes effect at the next start", key, config->file);
  spdlog::info("reloaded {}: {} route(s), {} session source(s)", config->file, next.routes.size(),
               next.session.sources.size());
}

Server::Server(core::Config config) : impl_(std::make_unique<Impl>(std::move(config))) {
  const auto& cfg = *impl_->config;
  const auto endpoint = core::listen_endpoint(cfg.listen);
  const auto upstream = resolve_upstream(cfg.upstream.url);
  // Bound before the workers: once the traffic port accepts, so does the admin port.
  auto& metrics = impl_->metrics;
  impl_->admin = std::make_unique<AdminServer>(cfg, upstream, impl_->stores, impl_->registry,
                                               [&metrics] { metrics.forced_release(); });
  for (unsigned i = 0; i < cfg.threads; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>(impl_->config, impl_->rules, i, endpoint, upstream,
                                                      impl_->stores, impl_->metrics, impl_->access_log.get()));
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
  core::WorkerGroupHooks hooks;
  hooks.on_drain = [this] { impl_->admin->set_draining(); };
  hooks.on_reload = [this] { impl_->reload(); };
  impl_->admin->start();
  const int code = core::run_worker_group(workers, cfg.drain_timeout, hooks);
  impl_->admin->stop();  // it kept serving while the workers drained
  impl_->admin->join();
  return code;
}

}  // namespace baton::proxy
