// baton-lockd end to end: a real process on a free loopback port, driven over HTTP as a
// cron job or queue worker would with curl.
#include "baton/lease/redis_store.hpp"
#include "lockd/lease/lease_store_conformance.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <csignal>
#include <cstdlib>
#include <future>
#include <regex>
#include <sstream>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

std::string lockd_program() {
  const char* dir = std::getenv("BATON_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : BATON_BIN_DIR) + "/baton-lockd";
}

// The memory backend unless `backend_yaml` says otherwise; two threads, so that requests
// of one test meet on different workers.
std::string lockd_config(std::uint16_t port, std::string_view backend_yaml) {
  std::ostringstream yaml;
  yaml << "instance_id: lockd-under-test\n"
       << "listen: 127.0.0.1:" << port << "\n"
       << "threads: 2\n"
       << "drain_timeout: 5s\n"
       << "logging: { level: debug }\n"
       << "limits: { max_ttl: 10m, max_wait: 1m }\n"
       << (backend_yaml.empty() ? std::string_view("lease: { backend: memory }\n") : backend_yaml);
  return yaml.str();
}

// baton-lockd on a free port, accepting connections once constructed.
class BatonLockd {
public:
  explicit BatonLockd(std::string_view backend_yaml = {}) : port_(free_port()) {
    const auto config = dir_ / "lockd.yaml";
    write_file(config, lockd_config(port_, backend_yaml));
    process_.emplace(ProcessOptions{
        .program = lockd_program(),
        .args = {"--config", config.string()},
        .env = {},
        .log_file = dir_ / "baton-lockd.log",
    });
    const bool accepting = wait_until(10s, [this] { return port_accepts(port_) || !process_->running(); });
    REQUIRE_MESSAGE(process_->running(), "baton-lockd exited at start: ",
                    process_->wait_for_exit(0ms).value_or(ExitStatus{}));
    REQUIRE_MESSAGE(accepting, "baton-lockd does not accept on port ", port_);
  }

  std::uint16_t port() const { return port_; }
  Process& process() { return *process_; }

  Response request(http::verb method, std::string target) {
    HttpClient client(port_);
    return client.request(make_request(method, std::move(target)));
  }

private:
  TempDir dir_;
  std::uint16_t port_;
  std::optional<Process> process_;
};

rapidjson::Document json_of(const Response& response) {
  rapidjson::Document document;
  document.Parse(response.body().data(), response.body().size());
  REQUIRE_MESSAGE(!document.HasParseError(), "not JSON: " << response.body());
  REQUIRE(document.IsObject());
  return document;
}

std::string text_at(const rapidjson::Value& object, const char* name) {
  REQUIRE_MESSAGE(object.HasMember(name), "no member " << std::string(name));
  REQUIRE_MESSAGE(object[name].IsString(), std::string(name) << " is not a string");
  return object[name].GetString();
}

// Every error body carries "error" and "message"; returns the code.
std::string error_of(const Response& response) {
  const auto json = json_of(response);
  CHECK(!text_at(json, "message").empty());
  return text_at(json, "error");
}

struct Held {
  std::string token;
  std::uint64_t fence = 0;
};

Held acquire(BatonLockd& lockd, std::string_view key, std::string_view query = "ttl=30s&wait=0s") {
  const Response response = lockd.request(http::verb::post, "/v1/leases/" + std::string(key) + "?" + std::string(query));
  REQUIRE_MESSAGE(response.result() == http::status::ok, response.body());
  const auto json = json_of(response);
  return {text_at(json, "token"), json["fence"].GetUint64()};
}

std::uint64_t waiters_on(BatonLockd& lockd, std::string_view key) {
  const Response response = lockd.request(http::verb::get, "/v1/leases/" + std::string(key));
  if (response.result() != http::status::ok) return 0;
  return json_of(response)["waiters"].GetUint64();
}

// The Redis store that baton-proxy runs, in this process, on the daemon's Redis and key
// prefix.
class ProxysRedisStore final : public lease::testing::StoreUnderTest {
public:
  ProxysRedisStore(const RedisServer& server, std::string prefix) {
    config_.url = core::parse_redis_url(server.url());
    config_.key_prefix = std::move(prefix);
  }

  lease::LeaseStorePtr make_store(Executor executor) override {
    return lease::make_redis_lease_store(executor, config_, "web-1");
  }

private:
  core::RedisConfig config_;
};

// The value of one sample line, as in `name{labels} value`.
std::uint64_t sample(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  REQUIRE_MESSAGE(at != std::string::npos, "no series " << series << " in:\n" << metrics);
  return std::stoull(metrics.substr(at + series.size() + 2));
}

}  // namespace

TEST_SUITE("baton-lockd") {
  TEST_CASE("acquire, busy, renew, release, then the token is lost") {
    BatonLockd lockd;
    const Response first = lockd.request(http::verb::post, "/v1/leases/order-1?ttl=30s&instance=cron-a&request_id=run-1");
    REQUIRE(first.result() == http::status::ok);
    CHECK(first[http::field::content_type] == "application/json");
    CHECK(first[http::field::cache_control] == "no-store");
    const auto lease = json_of(first);
    const std::string token = text_at(lease, "token");
    CHECK(!token.empty());
    CHECK(lease["fence"].GetUint64() > 0);
    CHECK(lease["ttl_ms"].GetInt64() == 30000);
    CHECK(lease["migrated"].GetBool() == false);

    const Response busy = lockd.request(http::verb::post, "/v1/leases/order-1?wait=0s&instance=cron-b");
    CHECK(busy.result() == http::status::conflict);
    CHECK(error_of(busy) == "busy");
    const auto busy_json = json_of(busy);
    CHECK(text_at(busy_json["holder"], "instance") == "cron-a");
    CHECK(text_at(busy_json["holder"], "request_id") == "run-1");
    CHECK(busy_json["retry_after_ms"].GetInt64() > 0);
    const int retry_after = std::stoi(std::string(busy[http::field::retry_after]));
    CHECK(retry_after >= 1);
    CHECK(retry_after <= 30);

    const Response renewed = lockd.request(http::verb::post, "/v1/leases/order-1/renew?token=" + token + "&ttl=1m");
    CHECK(renewed.result() == http::status::ok);
    CHECK(json_of(renewed)["renewed"].GetBool());
    CHECK(json_of(renewed)["ttl_ms"].GetInt64() == 60000);

    const Response released = lockd.request(http::verb::delete_, "/v1/leases/order-1?token=" + token);
    CHECK(released.result() == http::status::ok);
    CHECK(json_of(released)["released"].GetBool() == true);
    CHECK(lockd.request(http::verb::get, "/v1/leases/order-1").result() == http::status::not_found);

    const Response lost = lockd.request(http::verb::post, "/v1/leases/order-1/renew?token=" + token);
    CHECK(lost.result() == http::status::conflict);
    CHECK(error_of(lost) == "lost");
    const Response again = lockd.request(http::verb::delete_, "/v1/leases/order-1?token=" + token);
    CHECK(again.result() == http::status::ok);
    CHECK(json_of(again)["released"].GetBool() == false);

    // The next holder gets a higher fence, and learns that the session was elsewhere.
    const Response next = lockd.request(http::verb::post, "/v1/leases/order-1?instance=cron-b");
    REQUIRE(next.result() == http::status::ok);
    CHECK(json_of(next)["fence"].GetUint64() > lease["fence"].GetUint64());
    CHECK(json_of(next)["migrated"].GetBool() == true);
    CHECK(text_at(json_of(next), "previous_instance") == "cron-a");
  }

  TEST_CASE("bad keys are 400 and never reach the store") {
    BatonLockd lockd;
    const std::vector<std::string> bad_keys{"", std::string(129, 'k'), "a%20b", "%7Bx%7D", "{x}", "*", "a%0Ab"};
    for (const std::string& key : bad_keys) {
      INFO("key: '" << key << "'");
      const Response acquire_response = lockd.request(http::verb::post, "/v1/leases/" + key);
      CHECK(acquire_response.result() == http::status::bad_request);
      CHECK(error_of(acquire_response) == "bad_key");
      CHECK(lockd.request(http::verb::get, "/v1/leases/" + key).result() == http::status::bad_request);
    }
    const std::string metrics = lockd.request(http::verb::get, "/metrics").body();
    for (const auto* result : {"acquired", "busy", "too_many_waiters", "backend_down"})
      CHECK(sample(metrics, std::string("baton_lockd_acquisitions_total{result=\"") + result + "\"}") == 0);
    const auto page = json_of(lockd.request(http::verb::get, "/v1/leases"));
    CHECK(page["leases"].Size() == 0);
  }

  TEST_CASE("bad durations and limits are 400 naming the parameter") {
    BatonLockd lockd;
    const Response bad_ttl = lockd.request(http::verb::post, "/v1/leases/k?ttl=30");
    CHECK(bad_ttl.result() == http::status::bad_request);
    CHECK(error_of(bad_ttl) == "bad_ttl");
    const Response long_wait = lockd.request(http::verb::post, "/v1/leases/k?wait=5m");
    CHECK(long_wait.result() == http::status::bad_request);
    CHECK(error_of(long_wait) == "bad_wait");
    CHECK(text_at(json_of(long_wait), "message").find("limits.max_wait") != std::string::npos);
  }

  TEST_CASE("a waiting acquire gets the lease as soon as the holder releases it") {
    BatonLockd lockd;
    const Held holder = acquire(lockd, "queue-7", "ttl=30s&instance=worker-a");

    // The wait is far longer than the test needs: the release, not a timer, must end it.
    auto waiter = std::async(std::launch::async, [port = lockd.port()] {
      HttpClient client(port, 30s);
      return client.request(make_request(http::verb::post, "/v1/leases/queue-7?ttl=30s&wait=20s&instance=worker-b"));
    });
    REQUIRE_MESSAGE(wait_until(10s, [&] { return waiters_on(lockd, "queue-7") == 1; }), "the waiter never queued");
    CHECK(waiter.wait_for(0s) == std::future_status::timeout);

    const Response released = lockd.request(http::verb::delete_, "/v1/leases/queue-7?token=" + holder.token);
    REQUIRE(json_of(released)["released"].GetBool());

    const Response granted = waiter.get();
    REQUIRE_MESSAGE(granted.result() == http::status::ok, granted.body());
    const auto json = json_of(granted);
    CHECK(text_at(json, "token") != holder.token);
    CHECK(json["fence"].GetUint64() > holder.fence);
    CHECK(json["migrated"].GetBool() == true);
    CHECK(text_at(json, "previous_instance") == "worker-a");
    CHECK(waiters_on(lockd, "queue-7") == 0);
  }

  TEST_CASE("a lease granted to a caller that hung up while waiting is released at once") {
    BatonLockd lockd;
    const Held holder = acquire(lockd, "queue-8", "ttl=30s&instance=worker-a");
    {
      HttpClient gone(lockd.port());
      gone.send(make_request(http::verb::post, "/v1/leases/queue-8?ttl=30s&wait=20s&instance=gone"));
      REQUIRE_MESSAGE(wait_until(10s, [&] { return waiters_on(lockd, "queue-8") == 1; }), "the waiter never queued");
    }  // hangs up while waiting
    CHECK(json_of(lockd.request(http::verb::delete_, "/v1/leases/queue-8?token=" + holder.token))["released"].GetBool());

    // Without the give-back the key would stay held by "gone" for its 30 s TTL, and this
    // acquire would end busy.
    const Response next = lockd.request(http::verb::post, "/v1/leases/queue-8?wait=5s&instance=worker-c");
    REQUIRE_MESSAGE(next.result() == http::status::ok, next.body());
    CHECK(text_at(json_of(next), "previous_instance") == "gone");
  }

  TEST_CASE("unknown routes are 404, wrong methods 405 with Allow") {
    BatonLockd lockd;
    const Response missing = lockd.request(http::verb::get, "/v2/leases");
    CHECK(missing.result() == http::status::not_found);
    CHECK(error_of(missing) == "not_found");

    const Response put = lockd.request(http::verb::put, "/v1/leases/k");
    CHECK(put.result() == http::status::method_not_allowed);
    CHECK(put[http::field::allow] == "GET, POST, DELETE");
    CHECK(error_of(put) == "method_not_allowed");
    CHECK(lockd.request(http::verb::get, "/v1/leases/k/renew")[http::field::allow] == "POST");
    CHECK(lockd.request(http::verb::post, "/healthz")[http::field::allow] == "GET");

    const Response health = lockd.request(http::verb::get, "/healthz");
    CHECK(health.result() == http::status::ok);
    CHECK(text_at(json_of(health), "status") == "ok");
  }

  TEST_CASE("oversized requests are refused: 413 for a body, 431 for a head") {
    BatonLockd lockd;
    {
      HttpClient client(lockd.port());
      const Response response =
          client.request(make_request(http::verb::post, "/v1/leases/k", std::string(16 * 1024, 'x')));
      CHECK(response.result() == http::status::payload_too_large);
      CHECK(error_of(response) == "body_too_large");
    }
    {
      HttpClient client(lockd.port());
      auto request = make_request(http::verb::get, "/v1/leases");
      request.set("X-Padding", std::string(16 * 1024, 'p'));
      const Response response = client.request(std::move(request));
      CHECK(response.result() == http::status::request_header_fields_too_large);
    }
  }

  TEST_CASE("keep-alive: one connection serves several requests") {
    BatonLockd lockd;
    HttpClient client(lockd.port());
    const Response acquired = client.request(make_request(http::verb::post, "/v1/leases/k1"));
    REQUIRE(acquired.result() == http::status::ok);
    const std::string token = text_at(json_of(acquired), "token");
    CHECK(client.request(make_request(http::verb::get, "/v1/leases/k1")).result() == http::status::ok);
    CHECK(client.request(make_request(http::verb::delete_, "/v1/leases/k1?token=" + token)).result() ==
          http::status::ok);
  }

  TEST_CASE("/metrics is Prometheus text with the daemon's counters") {
    BatonLockd lockd;
    const Held held = acquire(lockd, "m1");
    CHECK(lockd.request(http::verb::post, "/v1/leases/m1?wait=0s").result() == http::status::conflict);
    CHECK(lockd.request(http::verb::post, "/v1/leases/m1/renew?token=" + held.token).result() == http::status::ok);
    CHECK(lockd.request(http::verb::delete_, "/v1/leases/m1?token=" + held.token).result() == http::status::ok);

    const Response response = lockd.request(http::verb::get, "/metrics");
    REQUIRE(response.result() == http::status::ok);
    CHECK(response[http::field::content_type].starts_with("text/plain; version=0.0.4"));
    const std::string& text = response.body();
    const std::regex sample_line(
        R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [0-9.eE+-]+$)");
    std::istringstream lines(text);
    std::size_t samples = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line.starts_with("#")) continue;
      INFO("line: " << line);
      CHECK(std::regex_match(line, sample_line));
      ++samples;
    }
    CHECK(samples > 0);
    CHECK(sample(text, "baton_lockd_acquisitions_total{result=\"acquired\"}") == 1);
    CHECK(sample(text, "baton_lockd_acquisitions_total{result=\"busy\"}") == 1);
    CHECK(sample(text, "baton_lockd_renewals_total{result=\"renewed\"}") == 1);
    CHECK(sample(text, "baton_lockd_releases_total{result=\"released\"}") == 1);
  }

  TEST_CASE("SIGTERM drains and exits 0") {
    BatonLockd lockd;
    acquire(lockd, "d1");
    lockd.process().signal(SIGTERM);
    const auto status = lockd.process().wait_for_exit(10s);
    REQUIRE(status.has_value());
    CHECK(status->exited_with(0));
  }

  TEST_CASE("--check rejects keys that only baton-proxy takes") {
    TempDir dir;
    const auto file = (dir / "lockd.yaml").string();
    write_file(file, "lease:\n  backend: memory\n  max_hold: 5m\n");
    Process check(ProcessOptions{.program = lockd_program(),
                                 .args = {"--config", file, "--check"},
                                 .env = {},
                                 .log_file = dir / "output.log"});
    const auto status = check.wait_for_exit(10s);
    REQUIRE(status.has_value());
    CHECK(status->exited_with(1));
    CHECK(check.log().find(file + ":3:") != std::string::npos);
    CHECK(check.log().find("lease.max_hold") != std::string::npos);
  }

  TEST_CASE("with Redis, leases exclude those of the store baton-proxy uses, both ways") {
    RedisServer redis;
    BatonLockd lockd("lease: { backend: redis }\nredis: { url: \"" + redis.url() + "\", key_prefix: shared }\n");
    ProxysRedisStore backend(redis, "shared");
    lease::testing::Instance proxy(backend, "web-1");

    const Held cron = acquire(lockd, "sess-1", "ttl=30s&instance=cron");
    const lease::AcquireResult refused = proxy.acquire(proxy.request("sess-1"));
    CHECK(refused.status == lease::AcquireStatus::busy);
    CHECK(refused.holder.instance == "cron");

    CHECK(json_of(lockd.request(http::verb::delete_, "/v1/leases/sess-1?token=" + cron.token))["released"].GetBool());
    const lease::AcquireResult taken = proxy.acquire(proxy.request("sess-1"));
    REQUIRE(taken.status == lease::AcquireStatus::acquired);
    CHECK(taken.lease.fence > cron.fence);
    CHECK(taken.lease.previous_instance == "cron");

    const Response busy = lockd.request(http::verb::post, "/v1/leases/sess-1?wait=0s&instance=cron");
    CHECK(busy.result() == http::status::conflict);
    CHECK(text_at(json_of(busy)["holder"], "instance") == "web-1");
    CHECK(proxy.release(taken.lease) == lease::ReleaseStatus::released);
    CHECK(acquire(lockd, "sess-1").fence > taken.lease.fence);
  }

  TEST_CASE("Redis unreachable: 503 backend_down with Retry-After") {
    const std::uint16_t closed_port = free_port();  // nobody listens there
    BatonLockd lockd("lease: { backend: redis }\nredis: { url: \"redis://127.0.0.1:" + std::to_string(closed_port) +
                     "/0\", connect_timeout: 200ms, command_timeout: 200ms }\n");
    const Response response = lockd.request(http::verb::post, "/v1/leases/k?wait=0s");
    CHECK(response.result() == http::status::service_unavailable);
    CHECK(error_of(response) == "backend_down");
    CHECK(std::stoi(std::string(response[http::field::retry_after])) >= 1);
    CHECK(lockd.request(http::verb::get, "/healthz").result() == http::status::ok);
  }
}

}  // namespace baton::test
