// baton-lease-contender: one process of the mutual-exclusion tests. Threads, each with
// its own RedisLeaseStore (as baton's workers have), take the leases of a few sessions
// over and over and record every holding as "session fence enter_ns exit_ns" on
// CLOCK_MONOTONIC, which all processes of one machine share. The test merges the
// records of several processes and looks for overlaps.
//
//   baton-lease-contender --redis URL --out FILE [--prefix P] [--sessions K]
//                         [--threads T] [--acquisitions N] [--ttl 5s] [--wait 20s]
//   baton-lease-contender --redis URL --hold SESSION [--ttl 2s]
//       takes one lease, prints "held <fence>", and keeps it (renewed) until killed.
#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/lease/redis_store.hpp"
#include "baton/lease/watchdog.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

namespace {

using namespace baton;

struct Options {
  std::string redis_url;
  std::string out;
  std::string prefix = "baton";
  std::string hold;
  unsigned sessions = 4;
  unsigned threads = 2;
  unsigned acquisitions = 200;
  core::Duration ttl{std::chrono::seconds(5)};
  core::Duration wait{std::chrono::seconds(20)};
};

struct Holding {
  std::string session;
  std::uint64_t fence;
  std::int64_t enter_ns;
  std::int64_t exit_ns;
};

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

core::RedisConfig redis_config(const Options& options) {
  core::RedisConfig config;
  config.url = core::parse_redis_url(options.redis_url);
  config.key_prefix = options.prefix;
  config.command_timeout = std::chrono::seconds(5);
  return config;
}

lease::LeaseRequest request_for(const Options& options, std::string session, std::string id) {
  lease::LeaseRequest request;
  request.session = std::move(session);
  request.instance = "contender-" + std::to_string(::getpid());
  request.request_id = std::move(id);
  request.route = "/contend";
  request.ttl = options.ttl;
  request.wait = options.wait;
  request.max_waiters = 1024;
  return request;
}

// One thread's share: acquire, hold briefly (so that holdings have a length to
// overlap in), record, release.
Awaitable<void> contend(const Options& options, lease::LeaseStore& store, unsigned thread,
                        std::vector<Holding>& holdings, unsigned& busy) {
  std::mt19937 random(::getpid() * 131 + thread);
  std::uniform_int_distribution<unsigned> pick_session(0, options.sessions - 1);
  std::uniform_int_distribution<int> hold_us(0, 300);
  SteadyTimer timer(co_await net::this_coro::executor);
  for (unsigned i = 0; i < options.acquisitions; ++i) {
    auto session = "s" + std::to_string(pick_session(random));
    auto result = co_await store.acquire(request_for(options, session, std::to_string(i)));
    if (result.status != lease::AcquireStatus::acquired) {
      ++busy;
      continue;
    }
    const auto enter = monotonic_ns();
    timer.expires_after(std::chrono::microseconds(hold_us(random)));
    co_await timer.async_wait(use_awaitable);
    holdings.push_back({session, result.lease.fence, enter, monotonic_ns()});
    co_await store.release(result.lease);
  }
}

int run_contention(const Options& options) {
  std::vector<std::vector<Holding>> holdings(options.threads);
  std::vector<unsigned> busy(options.threads, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < options.threads; ++t) {
    threads.emplace_back([&, t] {
      net::io_context io;
      auto store = lease::make_redis_lease_store(io.get_executor(), redis_config(options),
                                                 "contender");
      net::co_spawn(io, contend(options, *store, t, holdings[t], busy[t]),
                    [&io](std::exception_ptr error) {
                      if (error) std::rethrow_exception(error);
                      io.stop();
                    });
      io.run();
    });
  }
  for (auto& thread : threads) thread.join();

  std::ofstream out(options.out);
  unsigned total_busy = 0;
  for (unsigned t = 0; t < options.threads; ++t) {
    total_busy += busy[t];
    for (const auto& h : holdings[t]) {
      out << h.session << ' ' << h.fence << ' ' << h.enter_ns << ' ' << h.exit_ns << '\n';
    }
  }
  out << "# busy " << total_busy << '\n';
  return out ? 0 : 1;
}

Awaitable<void> hold_lease(const Options& options, lease::LeaseStore& store,
                           lease::Watchdog& watchdog, int& exit_code) {
  auto result = co_await store.acquire(request_for(options, options.hold, "hold"));
  if (result.status != lease::AcquireStatus::acquired) {
    std::cout << "busy" << std::endl;
    co_return;
  }
  watchdog.watch(result.lease, [](lease::LeaseEnd) {});
  std::cout << "held " << result.lease.fence << std::endl;
  exit_code = 0;
}

// Holds until killed: the watchdog's renewals keep the event loop busy for ever.
int run_hold(const Options& options) {
  net::io_context io;
  auto store = lease::make_redis_lease_store(io.get_executor(), redis_config(options), "holder");
  lease::Watchdog watchdog(io.get_executor(), *store, std::chrono::hours(1));
  int exit_code = 1;
  net::co_spawn(io, hold_lease(options, *store, watchdog, exit_code), [&](std::exception_ptr) {
    if (exit_code != 0) io.stop();
  });
  io.run();
  return exit_code;
}

Options parse(int argc, char** argv) {
  Options options;
  std::map<std::string, std::string> values;
  for (int i = 1; i + 1 < argc; i += 2) values[argv[i]] = argv[i + 1];
  auto get = [&](const char* name, std::string fallback) {
    auto found = values.find(name);
    return found == values.end() ? fallback : found->second;
  };
  options.redis_url = get("--redis", "");
  options.out = get("--out", "");
  options.prefix = get("--prefix", options.prefix);
  options.hold = get("--hold", "");
  options.sessions = std::stoul(get("--sessions", "4"));
  options.threads = std::stoul(get("--threads", "2"));
  options.acquisitions = std::stoul(get("--acquisitions", "200"));
  options.ttl = core::parse_duration(get("--ttl", "5s"));
  options.wait = core::parse_duration(get("--wait", "20s"));
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::default_logger_raw();  // before any thread: see tests/support/doctest_main.cpp
  const Options options = parse(argc, argv);
  if (options.redis_url.empty() || (options.out.empty() && options.hold.empty())) {
    std::cerr << "usage: baton-lease-contender --redis URL (--out FILE | --hold SESSION) ...\n";
    return 2;
  }
  return options.hold.empty() ? run_contention(options) : run_hold(options);
}
