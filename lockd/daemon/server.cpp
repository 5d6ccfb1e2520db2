#include "server.hpp"

#include "baton/core/asio.hpp"
#include "baton/core/listener.hpp"
#include "baton/core/worker_group.hpp"
#include "baton/lease/store_factory.hpp"
#include "worker.hpp"

#include <spdlog/spdlog.h>


namespace baton::lockd {
namespace {

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
};

Server::Server(core::LockdConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  const auto endpoint = core::listen_endpoint(impl_->config.listen);
  for (unsigned i = 0; i < impl_->config.threads; ++i)
    impl_->workers.push_back(std::make_unique<Worker>(impl_->shared, i, endpoint, impl_->stores));
}

Server::~Server() = default;

int Server::run() {
  const auto& cfg = impl_->config;
  std::vector<core::DrainableWorker*> workers;
  for (auto& worker : impl_->workers) workers.push_back(worker.get());
  spdlog::info("baton-lockd {} listening on {}:{} with {} thread(s), lease backend {}", BATON_VERSION,
               cfg.listen.host, cfg.listen.port, cfg.threads, backend_name(cfg.lease.backend));
  return core::run_worker_group(workers, cfg.drain_timeout);
}

}  // namespace baton::lockd
