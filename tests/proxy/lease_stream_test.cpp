#include "baton/proxy/lease_stream.hpp"

#include "baton/lease/memory_store.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <functional>
#include <optional>

namespace baton::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The stream's world: a memory lease store on a loop the test runs.
class Backend final : public AdminBackend {
public:
  const std::string& instance_id() const override { return id; }
  lease::LeaseStore& leases() override { return *store; }
  std::string lease_store_problem() override { return store_problem; }
  Awaitable<std::vector<DependencyCheck>> check_dependencies() override { co_return std::vector<DependencyCheck>{}; }
  std::string metrics_text() override { return {}; }
  bool draining() const override { return false; }
  void start_drain() override {}
  StreamSlots& stream_slots() override { return slots; }

  net::io_context io;
  lease::LeaseStorePtr store = lease::make_memory_lease_store(lease::make_memory_lease_table(), io.get_executor());
  std::string id = "self";
  std::string store_problem;
  StreamSlots slots{max_lease_streams};
};

class RecordingSink final : public AdminStreamSink {
public:
  Awaitable<bool> write(std::string bytes) override {
    writes.push_back(std::move(bytes));
    co_return accepting;
  }

  std::vector<std::string> writes;
  bool accepting = true;
};

// A stream running on the backend's loop.
class Running {
public:
  Running(Backend& backend, LeaseStreamOptions options, bool local_only = false)
      : backend_(backend), stream_(make_lease_stream(backend, *backend.slots.take(), local_only, options)) {
    net::co_spawn(backend.io, stream_->run(sink), [this](std::exception_ptr error) {
      failure_ = error;
      ended_ = true;
    });
  }

  // Runs the loop until `done` holds; false if it does not within 5 s.
  bool run_until(const std::function<bool()>& done) {
    backend_.io.restart();
    const auto give_up = Clock::now() + 5s;
    while (!done() && Clock::now() < give_up) backend_.io.run_one_for(20ms);
    if (failure_) std::rethrow_exception(failure_);
    return done();
  }

  // Runs the loop for `duration`, whatever happens.
  void run_for(Clock::duration duration) {
    backend_.io.restart();
    backend_.io.run_for(duration);
  }

  bool writes_reach(std::size_t count) {
    return run_until([&] { return sink.writes.size() >= count; });
  }

  void stop() { stream_->stop(); }
  bool ended() const { return ended_; }

  RecordingSink sink;

private:
  Backend& backend_;
  AdminStreamPtr stream_;
  std::exception_ptr failure_;
  bool ended_ = false;
};

template <class T>
T run(net::io_context& io, Awaitable<T> work) {
  std::optional<T> result;
  net::co_spawn(io, std::move(work), [&](std::exception_ptr error, T value) {
    if (error) std::rethrow_exception(error);
    result = std::move(value);
  });
  io.restart();
  while (!result) io.run_one();
  return std::move(*result);
}

lease::Lease hold(Backend& backend, std::string session, std::string instance = "other",
                  core::Duration ttl = std::chrono::seconds(60)) {
  lease::LeaseRequest request;
  request.session = std::move(session);
  request.instance = std::move(instance);
  request.route = "/chat";
  request.ttl = ttl;
  request.wait = 0ms;
  auto result = run(backend.io, backend.store->acquire(std::move(request)));
  REQUIRE(result.status == lease::AcquireStatus::acquired);
  return result.lease;
}

struct Event {
  std::string name;
  rapidjson::Document data;
};

Event parse_event(const std::string& text) {
  Event event;
  REQUIRE_MESSAGE(text.starts_with("event: "), text);
  REQUIRE_MESSAGE(text.ends_with("\n\n"), text);
  const auto name_end = text.find('\n');
  event.name = text.substr(7, name_end - 7);
  const auto data_start = name_end + 1;
  REQUIRE(text.compare(data_start, 6, "data: ") == 0);
  const std::string data = text.substr(data_start + 6, text.size() - 2 - (data_start + 6));
  event.data.Parse(data.data(), data.size());
  REQUIRE_MESSAGE(!event.data.HasParseError(), data);
  return event;
}

std::vector<std::string> sessions_in(const std::string& text) {
  const Event event = parse_event(text);
  REQUIRE(event.name == "leases");
  std::vector<std::string> sessions;
  for (const auto& lease : event.data["leases"].GetArray()) sessions.emplace_back(lease["session"].GetString());
  return sessions;
}

bool truncated(const std::string& text) { return parse_event(text).data["truncated"].GetBool(); }

LeaseStreamOptions quick() {
  LeaseStreamOptions options;
  options.min_gap = 10ms;
  return options;
}

}  // namespace

TEST_SUITE("lease stream") {
  TEST_CASE("a snapshot first; a new one after each change; stop() ends the stream and frees its slot") {
    Backend backend;
    const lease::Lease a = hold(backend, "a");
    Running stream(backend, quick());
    REQUIRE(stream.writes_reach(1));
    CHECK(sessions_in(stream.sink.writes[0]) == std::vector<std::string>{"a"});
    CHECK_FALSE(truncated(stream.sink.writes[0]));
    const auto first = parse_event(stream.sink.writes[0]);
    CHECK(std::string(first.data["leases"][0]["instance"].GetString()) == "other");
    CHECK(first.data["leases"][0]["remaining_ms"].GetInt64() > 0);

    const lease::Lease b = hold(backend, "b");
    REQUIRE(stream.writes_reach(2));
    CHECK(sessions_in(stream.sink.writes[1]) == std::vector<std::string>{"a", "b"});

    CHECK(run(backend.io, backend.store->release(a)) == lease::ReleaseStatus::released);
    REQUIRE(stream.writes_reach(3));
    CHECK(sessions_in(stream.sink.writes[2]) == std::vector<std::string>{"b"});

    CHECK(run(backend.io, backend.store->force_release("b")).has_value());
    REQUIRE(stream.writes_reach(4));
    CHECK(sessions_in(stream.sink.writes[3]).empty());

    CHECK(backend.slots.in_use() == 1);
    stream.stop();
    CHECK(stream.run_until([&] { return stream.ended(); }));
    CHECK(stream.sink.writes.size() == 4);
  }

  TEST_CASE("changes close together make one snapshot, no sooner than the gap after the last") {
    Backend backend;
    LeaseStreamOptions options;
    options.min_gap = 300ms;
    Running stream(backend, options);
    REQUIRE(stream.writes_reach(1));
    const auto first_at = Clock::now();
    for (const char* session : {"a", "b", "c", "d", "e"}) hold(backend, session);
    REQUIRE(stream.writes_reach(2));
    CHECK(Clock::now() - first_at >= 250ms);
    CHECK(sessions_in(stream.sink.writes[1]) == std::vector<std::string>{"a", "b", "c", "d", "e"});
    stream.run_for(100ms);
    CHECK(stream.sink.writes.size() == 2);  // nothing changed since
  }

  TEST_CASE("a lease that ends by its TTL is gone from the next snapshot, sent when it ends") {
    Backend backend;
    hold(backend, "short", "other", 300ms);
    hold(backend, "long");
    Running stream(backend, quick());
    REQUIRE(stream.writes_reach(1));
    CHECK(sessions_in(stream.sink.writes[0]) == std::vector<std::string>{"long", "short"});
    const auto first_at = Clock::now();
    REQUIRE(stream.writes_reach(2));
    CHECK(sessions_in(stream.sink.writes[1]) == std::vector<std::string>{"long"});
    CHECK(Clock::now() - first_at < 2s);
  }

  TEST_CASE("a quiet stream gets keep-alive comments") {
    Backend backend;
    LeaseStreamOptions options = quick();
    options.keep_alive = 50ms;
    Running stream(backend, options);
    REQUIRE(stream.writes_reach(3));
    CHECK(sessions_in(stream.sink.writes[0]).empty());
    CHECK(stream.sink.writes[1] == ": keep-alive\n\n");
    CHECK(stream.sink.writes[2] == ": keep-alive\n\n");
  }

  TEST_CASE("at most max_leases per snapshot, the first by session, marked truncated") {
    Backend backend;
    for (const char* session : {"c", "a", "b"}) hold(backend, session);
    LeaseStreamOptions options = quick();
    options.max_leases = 2;
    Running stream(backend, options);
    REQUIRE(stream.writes_reach(1));
    CHECK(sessions_in(stream.sink.writes[0]) == std::vector<std::string>{"a", "b"});
    CHECK(truncated(stream.sink.writes[0]));
  }

  TEST_CASE("scope=local: this instance's leases only") {
    Backend backend;
    hold(backend, "mine", "self");
    hold(backend, "theirs", "other");
    Running stream(backend, quick(), /*local_only=*/true);
    REQUIRE(stream.writes_reach(1));
    CHECK(sessions_in(stream.sink.writes[0]) == std::vector<std::string>{"mine"});
  }

  TEST_CASE("a store that cannot be reached is an unavailable event, never an empty snapshot") {
    Backend backend;
    hold(backend, "a");
    backend.store_problem = "redis: not connected";
    LeaseStreamOptions options = quick();
    options.unavailable_retry = 50ms;
    Running stream(backend, options);
    REQUIRE(stream.writes_reach(1));
    const Event event = parse_event(stream.sink.writes[0]);
    CHECK(event.name == "unavailable");
    CHECK(std::string(event.data["error"].GetString()) == "backend_down");
    CHECK(std::string(event.data["message"].GetString()).find("redis: not connected") != std::string::npos);

    backend.store_problem.clear();  // it looks again by itself
    REQUIRE(stream.run_until([&] {
      const std::string& last = stream.sink.writes.back();
      return last.starts_with("event: leases") && sessions_in(last).size() == 1;
    }));
  }

  TEST_CASE("a write that fails ends the stream") {
    Backend backend;
    Running stream(backend, quick());
    stream.sink.accepting = false;
    REQUIRE(stream.run_until([&] { return stream.ended(); }));
    CHECK(stream.sink.writes.size() == 1);
    CHECK(backend.slots.in_use() == 1);  // the stream object holds it until destroyed
  }
}

}  // namespace baton::proxy
