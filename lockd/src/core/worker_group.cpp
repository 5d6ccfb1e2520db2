#include "baton/core/worker_group.hpp"

#include "baton/core/asio.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>
#include <vector>

namespace baton::core {

namespace {

// Every SIGHUP until the group ends; a reload that throws is logged, and the process goes on.
void handle_reloads(net::signal_set& hangups, const WorkerGroupHooks& hooks) {
  hangups.async_wait([&hangups, &hooks](beast::error_code error, int) {
    if (error) return;
    if (!hooks.on_reload) {
      spdlog::info("SIGHUP: nothing to reload in this program; ignored");
    } else {
      try {
        hooks.on_reload();
      } catch (const std::exception& e) {
        spdlog::error("reload failed: {}; the running configuration stays", e.what());
      }
    }
    handle_reloads(hangups, hooks);
  });
}

}  // namespace

int run_worker_group(std::span<DrainableWorker* const> workers, Duration drain_timeout,
                     const WorkerGroupHooks& hooks) {
  std::signal(SIGPIPE, SIG_IGN);
  net::io_context control;  // signals and the drain deadline; never on the request path
  net::signal_set signals(control, SIGTERM, SIGINT);
  net::signal_set hangups(control, SIGHUP);
  handle_reloads(hangups, hooks);
  SteadyTimer drain_deadline(control);
  const auto stop_all = [&] {
    for (auto* worker : workers) worker->stop();
  };
  signals.async_wait([&](beast::error_code error, int signal) {
    if (error) return;
    spdlog::info("signal {}: draining, deadline {} ms", signal, drain_timeout.count());
    if (hooks.on_drain) hooks.on_drain();
    for (auto* worker : workers) worker->drain();
    drain_deadline.expires_after(drain_timeout);
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

  std::size_t running = workers.size();
  auto work = net::make_work_guard(control);
  std::vector<std::thread> threads;
  for (auto* worker : workers) {
    threads.emplace_back([&, worker] {
      worker->run();
      net::post(control, [&] {
        if (--running > 0) return;
        signals.cancel();
        hangups.cancel();
        drain_deadline.cancel();
        work.reset();
      });
    });
  }
  control.run();
  for (auto& thread : threads) thread.join();
  spdlog::info("drained; exiting");
  return 0;
}

}  // namespace baton::core
