#include "baton/proxy/admin_api.hpp"

#include "baton/lease/memory_store.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <optional>

namespace baton::proxy {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view secret = "s3cret";

// The API's world: a memory lease store on a loop the test runs, dependencies as the
// case sets them.
class FakeBackend final : public AdminBackend {
public:
  const std::string& instance_id() const override { return id; }
  lease::LeaseStore& leases() override { return *store; }
  std::string lease_store_problem() override { return store_problem; }
  Awaitable<std::vector<DependencyCheck>> check_dependencies() override { co_return checks; }
  std::string metrics_text() override { return "baton_up 1\n"; }
  bool draining() const override { return is_draining; }
  void start_drain() override { ++drains; }
  void lease_force_released() override { ++forced_releases; }
  StreamSlots& stream_slots() override { return slots; }

  net::io_context io;
  lease::LeaseStorePtr store = lease::make_memory_lease_store(lease::make_memory_lease_table(), io.get_executor());
  std::string id = "self";
  std::string store_problem;
  std::vector<DependencyCheck> checks = {{"redis", ""}, {"engine", ""}};
  bool is_draining = false;
  int drains = 0;
  int forced_releases = 0;
  StreamSlots slots{max_lease_streams};
};

template <class T>
T run(net::io_context& io, Awaitable<T> work) {
  std::optional<T> result;
  std::exception_ptr failure;
  net::co_spawn(io, std::move(work), [&](std::exception_ptr error, T value) {
    failure = error;
    result = std::move(value);
  });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  REQUIRE(result.has_value());
  return std::move(*result);
}

class Fixture {
public:
  explicit Fixture(bool loopback = true) : api(backend, auth, loopback) {}

  AdminResponse call(http::verb method, std::string target, std::string authorization = {}) {
    return reply(method, std::move(target), std::move(authorization)).response;
  }
  AdminReply reply(http::verb method, std::string target, std::string authorization = {}, std::string accept = {},
                   std::string fetch_site = {}, std::string host = "127.0.0.1:9901") {
    AdminRequest request;
    request.host = std::move(host);
    request.method = method;
    request.target = std::move(target);
    request.authorization = std::move(authorization);
    request.accept = std::move(accept);
    request.fetch_site = std::move(fetch_site);
    request.peer = "127.0.0.1:4242";
    return run(backend.io, api.handle(std::move(request)));
  }
  AdminReply get_as(std::string target, std::string accept, std::string authorization = {}) {
    return reply(http::verb::get, std::move(target), std::move(authorization), std::move(accept));
  }
  AdminResponse get(std::string target) { return call(http::verb::get, std::move(target)); }
  AdminResponse authorized(http::verb method, std::string target) {
    return call(method, std::move(target), "Bearer " + std::string(secret));
  }

  lease::Lease hold(std::string session, std::string instance) {
    lease::LeaseRequest request;
    request.session = std::move(session);
    request.instance = std::move(instance);
    request.request_id = "request-of-" + request.session;
    request.route = "/chat";
    request.wait = 0ms;
    auto result = run(backend.io, backend.store->acquire(std::move(request)));
    REQUIRE(result.status == lease::AcquireStatus::acquired);
    return result.lease;
  }

  FakeBackend backend;
  AdminAuth auth{{{"ops", std::string(secret)}}};
  AdminApi api;
};

rapidjson::Document json_of(const AdminResponse& response) {
  rapidjson::Document document;
  document.Parse(response.body().data(), response.body().size());
  REQUIRE_MESSAGE(!document.HasParseError(), "not JSON: " << response.body());
  REQUIRE(document.IsObject());
  return document;
}

// Every error body: the proxy's {"error", "message", "request_id"}, and the same id in
// X-Request-Id.
std::string error_code(const AdminResponse& response) {
  const auto json = json_of(response);
  REQUIRE(json.HasMember("error"));
  REQUIRE(json.HasMember("message"));
  REQUIRE(json.HasMember("request_id"));
  CHECK(response["X-Request-Id"] == json["request_id"].GetString());
  CHECK(response[http::field::content_type] == "application/json");
  return json["error"].GetString();
}

std::vector<std::string> sessions_of(const AdminResponse& response) {
  const auto json = json_of(response);
  std::vector<std::string> sessions;
  for (const auto& lease : json["leases"].GetArray()) sessions.emplace_back(lease["session"].GetString());
  return sessions;
}

}  // namespace

TEST_SUITE("admin api") {
  TEST_CASE("healthz, and metrics in the Prometheus text format") {
    Fixture f;
    const auto health = f.get("/healthz");
    CHECK(health.result() == http::status::ok);
    CHECK(health.body() == R"({"status":"ok"})");
    const auto metrics = f.get("/metrics");
    CHECK(metrics.result() == http::status::ok);
    CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4");
    CHECK(metrics.body() == "baton_up 1\n");
  }

  TEST_CASE("unknown paths are 404, other methods 405 with Allow") {
    Fixture f;
    const auto missing = f.get("/nothing");
    CHECK(missing.result() == http::status::not_found);
    CHECK(error_code(missing) == "not_found");
    CHECK(f.get("/leases/a/b").result() == http::status::not_found);
    CHECK(f.get("/leases/").result() == http::status::not_found);

    const auto drain = f.get("/drain");
    CHECK(drain.result() == http::status::method_not_allowed);
    CHECK(drain[http::field::allow] == "POST");
    CHECK(error_code(drain) == "method_not_allowed");
    CHECK(f.backend.drains == 0);

    const auto put = f.authorized(http::verb::put, "/leases/abc");
    CHECK(put.result() == http::status::method_not_allowed);
    CHECK(put[http::field::allow] == "GET, DELETE");
    CHECK(f.authorized(http::verb::post, "/healthz")[http::field::allow] == "GET");
  }

  TEST_CASE("on loopback, reads need no token, state changes do") {
    Fixture f;
    CHECK(f.get("/leases").result() == http::status::ok);

    const auto anonymous = f.call(http::verb::post, "/drain");
    CHECK(anonymous.result() == http::status::unauthorized);
    CHECK(anonymous[http::field::www_authenticate].starts_with("Bearer"));
    CHECK(error_code(anonymous) == "unauthorized");

    const auto wrong = f.call(http::verb::delete_, "/leases/abc", "Bearer nope");
    CHECK(wrong.result() == http::status::forbidden);
    CHECK(error_code(wrong) == "forbidden");

    // A wrong token is refused even where none is needed, so a stale one shows at once.
    CHECK(f.call(http::verb::get, "/leases", "Bearer nope").result() == http::status::forbidden);
    CHECK(f.backend.drains == 0);
  }

  TEST_CASE("off loopback, everything needs a token, before any 404") {
    Fixture f(/*loopback=*/false);
    CHECK(f.get("/healthz").result() == http::status::unauthorized);
    CHECK(f.get("/nothing").result() == http::status::unauthorized);
    CHECK(f.call(http::verb::get, "/healthz", "Bearer nope").result() == http::status::forbidden);
    CHECK(f.authorized(http::verb::get, "/healthz").result() == http::status::ok);
  }

  TEST_CASE("tokens replaced at run time apply to the next request") {
    Fixture f;
    f.auth.set_tokens({{"rotated", "new-secret"}});
    CHECK(f.authorized(http::verb::post, "/drain").result() == http::status::forbidden);
    CHECK(f.call(http::verb::post, "/drain", "Bearer new-secret").result() == http::status::accepted);
    CHECK(f.backend.drains == 1);
  }

  TEST_CASE("leases: all of them, or this instance's only, in pages") {
    Fixture f;
    f.hold("a", "self");
    f.hold("b", "other");
    f.hold("c", "self");

    const auto all = f.get("/leases");
    CHECK(all.result() == http::status::ok);
    CHECK(sessions_of(all) == std::vector<std::string>{"a", "b", "c"});
    const auto json = json_of(all);
    CHECK(json["next_cursor"].IsNull());
    const auto& first = json["leases"][0];
    CHECK(std::string(first["instance"].GetString()) == "self");
    CHECK(std::string(first["request_id"].GetString()) == "request-of-a");
    CHECK(std::string(first["route"].GetString()) == "/chat");
    CHECK(first["fence"].GetUint64() > 0);
    CHECK(first["remaining_ms"].GetInt64() > 0);
    CHECK(first["waiters"].GetUint64() == 0);
    CHECK(first.HasMember("age_ms"));

    CHECK(sessions_of(f.get("/leases?scope=local")) == std::vector<std::string>{"a", "c"});
    CHECK(sessions_of(f.get("/leases?scope=all")) == std::vector<std::string>{"a", "b", "c"});

    const auto page = json_of(f.get("/leases?limit=2"));
    REQUIRE(page["next_cursor"].IsString());
    const std::string cursor = page["next_cursor"].GetString();
    CHECK(sessions_of(f.get("/leases?limit=2&cursor=" + cursor)) == std::vector<std::string>{"c"});
  }

  TEST_CASE("lease list parameters are checked") {
    Fixture f;
    CHECK(error_code(f.get("/leases?limit=0")) == "bad_limit");
    CHECK(error_code(f.get("/leases?limit=1001")) == "bad_limit");
    CHECK(error_code(f.get("/leases?limit=ten")) == "bad_limit");
    CHECK(f.get("/leases?limit=1000").result() == http::status::ok);
    CHECK(error_code(f.get("/leases?scope=mine")) == "bad_scope");
    CHECK(error_code(f.get("/leases?limt=5")) == "unknown_parameter");
    CHECK(error_code(f.get("/leases?limit=1&limit=2")) == "duplicate_parameter");
    CHECK(error_code(f.get("/leases?cursor=a%20b")) == "bad_cursor");
    CHECK(error_code(f.get("/leases?cursor=%zz")) == "bad_target");
  }

  TEST_CASE("one lease, 404 when the session is free") {
    Fixture f;
    f.hold("chat:42", "self");
    const auto held = f.get("/leases/chat%3A42");
    CHECK(held.result() == http::status::ok);
    CHECK(std::string(json_of(held)["session"].GetString()) == "chat:42");

    const auto free = f.get("/leases/nobody");
    CHECK(free.result() == http::status::not_found);
    CHECK(error_code(free) == "no_lease");
    CHECK(error_code(f.get("/leases/a%7Bb")) == "bad_session");  // '{' never names a session
  }

  TEST_CASE("an encoded '/' stays inside the session id") {
    Fixture f;
    f.hold("tenant/1", "self");
    CHECK(f.get("/leases/tenant%2F1").result() == http::status::ok);
  }

  TEST_CASE("DELETE force-releases, and the holder's own release then finds nothing") {
    Fixture f;
    const lease::Lease held = f.hold("s", "other");
    const auto released = f.authorized(http::verb::delete_, "/leases/s?reason=stuck+engine");
    CHECK(released.result() == http::status::ok);
    const auto json = json_of(released);
    CHECK(json["released"].GetBool());
    CHECK(std::string(json["lease"]["instance"].GetString()) == "other");
    CHECK(json["lease"]["fence"].GetUint64() == held.fence);
    CHECK(f.backend.forced_releases == 1);

    CHECK(f.get("/leases/s").result() == http::status::not_found);
    CHECK(run(f.backend.io, f.backend.store->release(held)) == lease::ReleaseStatus::not_held);
    CHECK(error_code(f.authorized(http::verb::delete_, "/leases/s")) == "no_lease");
    CHECK(f.backend.forced_releases == 1);  // nothing was ended the second time
    CHECK(error_code(f.authorized(http::verb::delete_, "/leases/s?why=x")) == "unknown_parameter");
  }

  TEST_CASE("a lease store that cannot be reached is 503, never an empty list") {
    Fixture f;
    f.backend.store_problem = "redis: not connected";
    const auto list = f.get("/leases");
    CHECK(list.result() == http::status::service_unavailable);
    CHECK(error_code(list) == "backend_down");
    CHECK(list[http::field::retry_after] == "1");
    CHECK(f.get("/leases/s").result() == http::status::service_unavailable);
    CHECK(f.authorized(http::verb::delete_, "/leases/s").result() == http::status::service_unavailable);
  }

  TEST_CASE("readyz: 200 when every check passes, 503 naming what failed, 503 while draining") {
    Fixture f;
    const auto ready = f.get("/readyz");
    CHECK(ready.result() == http::status::ok);
    CHECK(ready.body() == R"({"status":"ready","checks":{"redis":"ok","engine":"ok"}})");

    f.backend.checks[1].problem = "no connection to 127.0.0.1:1: Connection refused";
    const auto engine_down = f.get("/readyz");
    CHECK(engine_down.result() == http::status::service_unavailable);
    CHECK(error_code(engine_down) == "not_ready");
    const auto json = json_of(engine_down);
    CHECK(std::string(json["checks"]["redis"].GetString()) == "ok");
    CHECK(std::string(json["message"].GetString()).starts_with("engine: no connection"));

    f.backend.checks[1].problem.clear();
    f.backend.is_draining = true;
    const auto draining = f.get("/readyz");
    CHECK(draining.result() == http::status::service_unavailable);
    CHECK(error_code(draining) == "draining");
  }

  TEST_CASE("POST /drain starts the drain") {
    Fixture f;
    const auto response = f.authorized(http::verb::post, "/drain?reason=deploy");
    CHECK(response.result() == http::status::accepted);
    CHECK(response.body() == R"({"status":"draining"})");
    CHECK(f.backend.drains == 1);
  }

  TEST_CASE("the route table takes more routes") {
    FakeBackend backend;
    AdminAuth auth({});
    auto routes = admin_routes();
    routes.push_back({http::verb::get, "/leases/{sid}/events", [](AdminBackend&, AdminCall call) -> Awaitable<AdminReply> {
                        co_return json_response(call, http::status::ok, "\"" + call.path_parameters[0] + "\"");
                      }});
    AdminApi api(backend, auth, true, std::move(routes));
    AdminRequest request;
    request.host = "localhost:9901";
    request.target = "/leases/abc/events";
    const auto response = run(backend.io, api.handle(std::move(request))).response;
    CHECK(response.result() == http::status::ok);
    CHECK(response.body() == R"("abc")");
  }

  TEST_CASE("without a token, only requests addressed to the loopback are answered (DNS rebinding)") {
    Fixture f;
    for (const char* host : {"127.0.0.1:9901", "localhost", "LOCALHOST:9901", "[::1]:9901", "127.1.2.3"}) {
      CAPTURE(host);
      CHECK(f.reply(http::verb::get, "/healthz", {}, {}, {}, host).response.result() == http::status::ok);
    }
    for (const char* host : {"evil.example:9901", "", "127.0.0.1.evil.example", "[::1", "10.0.0.1:9901"}) {
      CAPTURE(host);
      const auto refused = f.reply(http::verb::get, "/healthz", {}, {}, {}, host).response;
      CHECK(refused.result() == http::status::forbidden);
      CHECK(refused.body().find("host_not_local") != std::string::npos);
    }
  }

  TEST_CASE("GET /leases: JSON by default, the page for text/html, the stream for text/event-stream") {
    Fixture f;
    const auto json = f.get_as("/leases", "*/*");
    CHECK(json.response[http::field::content_type] == "application/json");
    CHECK(!json.stream);

    const auto page = f.get_as("/leases", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    CHECK(page.response.result() == http::status::ok);
    CHECK(page.response[http::field::content_type] == "text/html; charset=utf-8");
    CHECK(page.response.body().find("<table id=\"leases\">") != std::string::npos);
    CHECK(!page.stream);
    // The page takes no parameters, as every resource refuses those it does not know.
    CHECK(error_code(f.get_as("/leases?limit=5", "text/html").response) == "unknown_parameter");

    const auto stream = f.get_as("/leases", "text/event-stream");
    CHECK(stream.response.result() == http::status::ok);
    CHECK(stream.response[http::field::content_type] == "text/event-stream");
    CHECK(stream.response[http::field::cache_control] == "no-store");
    CHECK(stream.response["X-Accel-Buffering"] == "no");
    CHECK(stream.response.body().empty());
    CHECK(stream.stream != nullptr);
    CHECK(error_code(f.get_as("/leases?scope=mine", "text/event-stream").response) == "bad_scope");
    CHECK(error_code(f.get_as("/leases?limit=5", "text/event-stream").response) == "unknown_parameter");
  }

  TEST_CASE("accepts_media_type: the type itself with a quality above 0, in any case") {
    CHECK(accepts_media_type("text/html", "text/html"));
    CHECK(accepts_media_type("application/json, Text/HTML ;q=0.5", "text/html"));
    CHECK(accepts_media_type("text/event-stream", "text/event-stream"));
    CHECK_FALSE(accepts_media_type("text/html;q=0", "text/html"));
    CHECK_FALSE(accepts_media_type("text/html; q=0.000", "text/html"));
    CHECK_FALSE(accepts_media_type("*/*", "text/html"));
    CHECK_FALSE(accepts_media_type("text/*", "text/html"));
    CHECK_FALSE(accepts_media_type("", "text/html"));
    CHECK_FALSE(accepts_media_type("text/htmlx", "text/html"));
  }

  TEST_CASE("the page needs no token, even off loopback; its stream does, and a wrong token is 403") {
    Fixture f(/*loopback=*/false);
    CHECK(f.get_as("/leases", "text/html").response.result() == http::status::ok);
    CHECK(f.get_as("/leases", "text/event-stream").response.result() == http::status::unauthorized);
    CHECK(f.get_as("/leases", "application/json").response.result() == http::status::unauthorized);
    CHECK(f.get_as("/leases", "text/html", "Bearer nope").response.result() == http::status::forbidden);
    const auto streamed = f.get_as("/leases", "text/event-stream", "Bearer " + std::string(secret));
    CHECK(streamed.response.result() == http::status::ok);
    CHECK(streamed.stream != nullptr);
  }

  TEST_CASE("lease streams: at most 16 at once, 503 beyond; a slot comes back when a stream ends") {
    Fixture f;
    std::vector<AdminStreamPtr> open;
    for (std::size_t i = 0; i < max_lease_streams; ++i) {
      auto reply = f.get_as("/leases", "text/event-stream");
      REQUIRE(reply.stream != nullptr);
      open.push_back(std::move(reply.stream));
    }
    const auto refused = f.get_as("/leases", "text/event-stream");
    CHECK(refused.response.result() == http::status::service_unavailable);
    CHECK(error_code(refused.response) == "too_many_streams");
    CHECK(refused.response[http::field::retry_after] == "5");
    CHECK(!refused.stream);

    open.pop_back();
    CHECK(f.get_as("/leases", "text/event-stream").stream != nullptr);
  }

  TEST_CASE("lease streams: refused to other sites' pages, and while the store cannot be reached") {
    Fixture f;
    const auto cross = f.reply(http::verb::get, "/leases", {}, "text/event-stream", "cross-site");
    CHECK(cross.response.result() == http::status::forbidden);
    CHECK(error_code(cross.response) == "cross_site");
    CHECK(f.reply(http::verb::get, "/leases", {}, "text/event-stream", "same-site").response.result() ==
          http::status::forbidden);
    CHECK(f.reply(http::verb::get, "/leases", {}, "text/event-stream", "same-origin").stream != nullptr);

    f.backend.store_problem = "redis: not connected";
    const auto down = f.get_as("/leases", "text/event-stream");
    CHECK(down.response.result() == http::status::service_unavailable);
    CHECK(error_code(down.response) == "backend_down");
    CHECK(f.backend.slots.in_use() == 0);
  }

  TEST_CASE("printable: client text made safe for messages and log lines") {
    CHECK(printable("plain text", 64) == "plain text");
    CHECK(printable("a\nb\x01", 64) == "a?b?");
    CHECK(printable("abcdef", 3) == "abc...");
  }
}

}  // namespace baton::proxy
