// baton-lockd's process: the worker threads, their lease stores, and the signals that
// drain them.
#pragma once

#include "baton/core/config.hpp"

#include <memory>

namespace baton::lockd {

class Server {
public:
  // Binds every worker's listener and creates its lease store; throws when it cannot.
  explicit Server(core::LockdConfig config);
  ~Server();

  // Serves until SIGTERM or SIGINT, then drains: no new connections, requests in flight
  // (waiting acquires too) finish until drain_timeout; a second signal ends them at once.
  // Leases that callers hold are theirs: draining neither releases nor renews them.
  // Returns the process exit code.
  int run();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::lockd
