// baton-lease-bench: what a lease costs, against a real Redis.
//
//   baton-lease-bench --redis URL [--seconds 5] [--handoffs 2000]
//
// 1. Uncontended: one thread acquires and releases distinct sessions back to back;
//    prints acquire+release pairs per second and the latency of one acquire.
// 2. Hand-off: two processes (this program again, with --role) take turns on one
//    session; each records when it sent a release and when an acquire returned, on
//    CLOCK_MONOTONIC, which processes of one machine share. Hand-off latency is the
//    time from one process's release to the other's acquire.
#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/lease/redis_store.hpp"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace baton;
using std::chrono::duration_cast;
using std::chrono::microseconds;

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

struct Options {
  std::string redis_url;
  std::string role;  // empty: the parent; "a" or "b": a hand-off child
  std::string out;
  std::string session = "handoff";
  std::string prefix = "bench";
  double seconds = 5;
  unsigned handoffs = 2000;
};

core::RedisConfig redis_config(const Options& options) {
  core::RedisConfig config;
  config.url = core::parse_redis_url(options.redis_url);
  config.key_prefix = options.prefix;
  return config;
}

lease::LeaseRequest request(std::string session, core::Duration wait) {
  lease::LeaseRequest r;
  r.session = std::move(session);
  r.instance = "bench-" + std::to_string(::getpid());
  r.request_id = "bench";
  r.route = "/bench";
  r.ttl = std::chrono::seconds(10);
  r.wait = wait;
  return r;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * values.size()))];
}

// Runs one coroutine to its end on a fresh io_context with its own store.
template <class Body>
void run_with_store(const Options& options, Body body) {
  net::io_context io;
  auto store = lease::make_redis_lease_store(io.get_executor(), redis_config(options), "bench");
  net::co_spawn(io, body(*store), [&io](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
    io.stop();
  });
  io.run();
}

Awaitable<void> uncontended(lease::LeaseStore& store, double seconds, std::vector<double>& acquire_us,
                            std::size_t& pairs) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (std::size_t i = 0; std::chrono::steady_clock::now() < end; ++i) {
    const auto before = std::chrono::steady_clock::now();
    auto result = co_await store.acquire(request("u" + std::to_string(i), core::Duration::zero()));
    acquire_us.push_back(
        duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - before).count() / 1000.0);
    if (result.status != lease::AcquireStatus::acquired) throw std::runtime_error("not acquired");
    co_await store.release(result.lease);
    ++pairs;
  }
}

// One side of the hand-off: acquire, note the time, hold a moment so that the other side
// is surely waiting, note the time, release.
Awaitable<void> take_turns(lease::LeaseStore& store, const Options& options, std::ofstream& out) {
  SteadyTimer hold(co_await net::this_coro::executor);
  for (unsigned i = 0; i < options.handoffs; ++i) {
    auto result = co_await store.acquire(request(options.session, std::chrono::seconds(10)));
    const auto acquired = monotonic_ns();
    if (result.status != lease::AcquireStatus::acquired) throw std::runtime_error("hand-off timed out");
    hold.expires_after(std::chrono::milliseconds(1));
    co_await hold.async_wait(use_awaitable);
    out << "acquired " << acquired << ' ' << result.lease.fence << '\n';
    out << "released " << monotonic_ns() << ' ' << result.lease.fence << '\n';
    co_await store.release(result.lease);
  }
}

int run_child(const Options& options) {
  std::ofstream out(options.out);
  run_with_store(options, [&](lease::LeaseStore& store) { return take_turns(store, options, out); });
  return 0;
}

pid_t spawn_child(const char* self, const Options& options, const std::string& role,
                  const std::string& out) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string handoffs = std::to_string(options.handoffs);
    execl(self, self, "--redis", options.redis_url.c_str(), "--role", role.c_str(), "--out",
          out.c_str(), "--handoffs", handoffs.c_str(), "--prefix", options.prefix.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Hand-off latencies: for each fence's release, the acquire with the next fence.
std::vector<double> handoff_latencies_us(const std::vector<std::string>& files) {
  std::map<std::uint64_t, std::int64_t> released_at, acquired_at;
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string what;
    std::int64_t at;
    std::uint64_t fence;
    while (in >> what >> at >> fence) (what == "released" ? released_at : acquired_at)[fence] = at;
  }
  std::vector<double> latencies;
  for (auto it = acquired_at.begin(); it != acquired_at.end(); ++it) {
    auto next = std::next(it);
    if (next == acquired_at.end()) break;
    auto release = released_at.find(it->first);
    if (release == released_at.end()) continue;
    latencies.push_back((next->second - release->second) / 1000.0);
  }
  return latencies;
}

int run_parent(const char* self, const Options& options) {
  std::vector<double> acquire_us;
  std::size_t pairs = 0;
  run_with_store(options, [&](lease::LeaseStore& store) {
    return uncontended(store, options.seconds, acquire_us, pairs);
  });
  std::printf("uncontended acquire+release: %.0f pairs/s on one thread\n", pairs / options.seconds);
  std::printf("uncontended acquire latency: p50 %.1f us, p99 %.1f us\n", percentile(acquire_us, 0.5),
              percentile(acquire_us, 0.99));

  char dir_template[] = "/tmp/baton-lease-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::vector<std::string> files{dir + "/a", dir + "/b"};
  const pid_t a = spawn_child(self, options, "a", files[0]);
  const pid_t b = spawn_child(self, options, "b", files[1]);
  int status_a = 0, status_b = 0;
  waitpid(a, &status_a, 0);
  waitpid(b, &status_b, 0);
  if (status_a != 0 || status_b != 0) {
    std::fprintf(stderr, "a hand-off process failed\n");
    return 1;
  }
  const auto latencies = handoff_latencies_us(files);
  std::printf("hand-off between two processes (%zu hand-offs): p50 %.0f us, p99 %.0f us\n",
              latencies.size(), percentile(latencies, 0.5), percentile(latencies, 0.99));
  for (const auto& file : files) std::remove(file.c_str());
  ::rmdir(dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i], value = argv[i + 1];
    if (name == "--redis") options.redis_url = value;
    else if (name == "--role") options.role = value;
    else if (name == "--out") options.out = value;
    else if (name == "--prefix") options.prefix = value;
    else if (name == "--seconds") options.seconds = std::stod(value);
    else if (name == "--handoffs") options.handoffs = std::stoul(value);
  }
  if (options.redis_url.empty()) {
    std::cerr << "usage: baton-lease-bench --redis URL [--seconds S] [--handoffs N]\n";
    return 2;
  }
  return options.role.empty() ? run_parent(argv[0], options) : run_child(options);
}
