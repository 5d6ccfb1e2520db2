// The worker threads of a server process and the signals that drain them, shared by
// baton-proxy and baton-lockd.
#pragma once

#include "baton/core/config.hpp"

#include <functional>
#include <span>

namespace baton::core {

// What a worker thread offers the process: run its loop, drain, stop.
class DrainableWorker {
public:
  virtual ~DrainableWorker() = default;
  // The thread body; returns once the worker has drained or been stopped.
  virtual void run() = 0;
  // Thread-safe: stop accepting and let what is in flight finish.
  virtual void drain() = 0;
  // Thread-safe: end the event loop now, whatever is in flight.
  virtual void stop() = 0;
};

// What the process adds to the signals; both run on the control thread.
struct WorkerGroupHooks {
  std::function<void()> on_drain;   // a drain starts (before the workers are told)
  std::function<void()> on_reload;  // SIGHUP; without it SIGHUP is logged and ignored
};

// Runs each worker on its own thread until every one has returned. SIGTERM or SIGINT
// drains them all; at `drain_timeout`, or on a second signal, they are stopped. Returns
// the process exit code (0: a drain is a normal end).
int run_worker_group(std::span<DrainableWorker* const> workers, Duration drain_timeout,
                     const WorkerGroupHooks& hooks = {});

}  // namespace baton::core
