#include "baton/proxy/routes.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace baton;
using namespace baton::proxy;
using core::LeaseMode;
using core::RouteConfig;

namespace {

RouteConfig prefix_route(std::string name, std::string prefix, std::vector<std::string> methods = {}) {
  RouteConfig route;
  route.name = std::move(name);
  route.match.prefix = std::move(prefix);
  route.match.methods = std::move(methods);
  return route;
}

RouteConfig regex_route(std::string name, std::string regex, std::vector<std::string> methods = {}) {
  RouteConfig route;
  route.name = std::move(name);
  route.match.regex = std::move(regex);
  route.match.methods = std::move(methods);
  return route;
}

// The name of the route a request falls under, "none" when it matches no route.
std::string route_of(const RouteTable& table, std::string_view method, std::string_view target) {
  const RouteConfig* route = table.match(http::string_to_verb(method), method, target);
  return route == nullptr ? "none" : route->name;
}

}  // namespace

TEST_SUITE("routes") {

  TEST_CASE("a prefix matches the start of the path, byte for byte") {
    const RouteTable table({prefix_route("api", "/api")});
    CHECK(route_of(table, "GET", "/api") == "api");
    CHECK(route_of(table, "GET", "/api/chat") == "api");
    CHECK(route_of(table, "GET", "/apis") == "api");  // a string prefix, as Envoy's
    CHECK(route_of(table, "GET", "/ap") == "none");
    CHECK(route_of(table, "GET", "/API") == "none");
    CHECK(route_of(table, "GET", "/x/api") == "none");
    CHECK(route_of(table, "GET", "/%61pi") == "none");  // the path is not decoded
  }

  TEST_CASE("a regex must match the whole path") {
    const RouteTable table({regex_route("chat", "/sessions/[^/]+/chat"), regex_route("any-api", "/api/.*")});
    CHECK(route_of(table, "GET", "/sessions/42/chat") == "chat");
    CHECK(route_of(table, "GET", "/sessions/42/chat/more") == "none");
    CHECK(route_of(table, "GET", "/v1/sessions/42/chat") == "none");
    CHECK(route_of(table, "GET", "/api/") == "any-api");
    CHECK(route_of(table, "GET", "/api/x/y") == "any-api");
    CHECK(route_of(table, "GET", "/api") == "none");
  }

  TEST_CASE("the query string is not part of the path") {
    const RouteTable table({regex_route("exact", "/chat"), prefix_route("search", "/search")});
    CHECK(route_of(table, "GET", "/chat?x=1") == "exact");
    CHECK(route_of(table, "GET", "/chat?") == "exact");
    CHECK(route_of(table, "GET", "/other?next=/chat") == "none");
    CHECK(route_of(table, "GET", "/?q=/search") == "none");
    CHECK(route_of(table, "GET", "/search?q=1") == "search");
  }

  TEST_CASE("methods: none listed means any; otherwise exact") {
    const RouteTable table({prefix_route("post", "/chat", {"POST", "PUT"}), prefix_route("any", "/chat")});
    CHECK(route_of(table, "POST", "/chat") == "post");
    CHECK(route_of(table, "PUT", "/chat") == "post");
    CHECK(route_of(table, "GET", "/chat") == "any");
    CHECK(route_of(table, "DELETE", "/chat") == "any");
  }

  TEST_CASE("extension methods compare by name, case-sensitively") {
    const RouteTable table({prefix_route("custom", "/", {"FROB"})});
    CHECK(route_of(table, "FROB", "/x") == "custom");
    CHECK(route_of(table, "frob", "/x") == "none");
    CHECK(route_of(table, "FROBNICATE", "/x") == "none");
    CHECK(route_of(table, "GET", "/x") == "none");
  }

  TEST_CASE("the first matching route wins") {
    const RouteTable table({prefix_route("stream", "/chat/stream", {"GET"}), prefix_route("chat", "/chat"),
                            prefix_route("all", "/"), prefix_route("never", "/chat")});
    CHECK(route_of(table, "GET", "/chat/stream") == "stream");
    CHECK(route_of(table, "POST", "/chat/stream") == "chat");
    CHECK(route_of(table, "GET", "/chat") == "chat");
    CHECK(route_of(table, "GET", "/elsewhere") == "all");
  }

  TEST_CASE("no match gives nullptr; an empty table matches nothing") {
    const RouteTable table({prefix_route("api", "/api", {"POST"})});
    CHECK(table.match(http::verb::get, "GET", "/api") == nullptr);
    CHECK(table.match(http::verb::post, "POST", "/") == nullptr);
    CHECK(table.match(http::verb::options, "OPTIONS", "*") == nullptr);

    const RouteTable empty({});
    CHECK(empty.size() == 0);
    CHECK(empty.match(http::verb::get, "GET", "/") == nullptr);
  }

  TEST_CASE("the matched route is the configured one, lease mode and all") {
    RouteConfig leased = prefix_route("leased", "/axiom", {"POST"});
    leased.lease = LeaseMode::required;
    leased.sse_done.kind = core::SseDone::Kind::event;
    leased.sse_done.value = "done";
    const RouteTable table({leased, prefix_route("rest", "/")});
    const RouteConfig* route = table.match(http::verb::post, "POST", "/axiom/step");
    REQUIRE(route != nullptr);
    CHECK(route->lease == LeaseMode::required);
    CHECK(route->sse_done.value == "done");
    CHECK(table.match(http::verb::get, "GET", "/axiom")->lease == LeaseMode::none);
  }

  TEST_CASE("a hostile path costs linear time and no deep recursion") {
    const RouteTable table({regex_route("api", "/api/(a|b)*c"), prefix_route("rest", "/")});
    const std::string long_path = "/api/" + std::string(32 * 1024, 'a');
    CHECK(route_of(table, "GET", long_path) == "rest");
    CHECK(route_of(table, "GET", long_path + "c") == "api");
  }

  TEST_CASE("a regex the linear-time engine cannot run is refused when the table is built") {
    CHECK_THROWS_AS(RouteTable({regex_route("backref", "/(a)\\1")}), std::invalid_argument);
  }

  TEST_CASE("request_path drops the query") {
    CHECK(request_path("/a/b?c=d?e") == "/a/b");
    CHECK(request_path("/a/b") == "/a/b");
    CHECK(request_path("?x") == "");
  }

}  // TEST_SUITE
