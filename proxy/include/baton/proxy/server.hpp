// baton-proxy's process: the worker threads, and the signals that drain them.
#pragma once

#include "baton/core/config.hpp"

#include <memory>

namespace baton::proxy {

class Server {
public:
  // Resolves the engine and binds every worker's listener; throws when it cannot.
  explicit Server(core::Config config);
  ~Server();

  // Serves until SIGTERM or SIGINT, then drains: no new connections, requests in
  // flight finish until drain_timeout. Returns the process exit code.
  int run();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::proxy
