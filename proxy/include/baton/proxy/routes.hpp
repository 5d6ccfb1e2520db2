// Route rules: which configured route a request falls under. Pure: a method and a target
// go in, a route comes out; regexes are compiled once, when the table is built.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace baton::proxy {

// The configured routes, in order. The rules are Envoy's:
//
// - the path is the request target up to the first '?', as sent: not percent-decoded,
//   not normalised;
// - prefix: the path starts with the prefix, byte for byte ("/api" matches "/api",
//   "/apis" and "/api/x");
// - regex: ECMAScript syntax, and it must match the WHOLE path, as Envoy's safe_regex
//   does: write '/api/.*', not '/api/';
// - methods: exact and case-sensitive, as HTTP methods are; none listed means any;
// - the first route that matches wins.
//
// A request that matches no route gets nullptr, and the caller passes it through with
// lease: none. The config loader adds the catch-all {prefix: /, lease: none} only when
// no routes are configured at all; with routes configured, a path they do not cover is
// forwarded without a lease, never refused.
//
// Immutable once built: one table may be shared by every worker thread.
class RouteTable {
public:
  // Throws std::invalid_argument for a regex that compile_request_regex rejects.
  explicit RouteTable(std::vector<core::RouteConfig> routes);

  // The first matching route, or nullptr. The pointer lives as long as the table.
  const core::RouteConfig* match(http::verb method, std::string_view method_string,
                                 std::string_view target) const;

  std::size_t size() const noexcept { return routes_.size(); }

private:
  struct Method {
    http::verb verb;   // http::verb::unknown for an extension method; then `name` decides
    std::string name;
  };
  struct CompiledRoute {
    core::RouteConfig config;
    std::vector<Method> methods;
    std::regex regex;  // used only when config.match.regex is set
  };

  static bool matches_method(const CompiledRoute& route, http::verb method,
                             std::string_view method_string);
  static bool matches_path(const CompiledRoute& route, std::string_view path);

  std::vector<CompiledRoute> routes_;
};

// The path of a request target: everything before the query.
std::string_view request_path(std::string_view target);

// Compiles a regex that will be run on request data, in libstdc++'s polynomial mode:
// matching then takes time linear in the input and never recurses per character. The
// default backtracking mode does, so a 32 KB path overflows an 8 MB stack, and some
// patterns take exponential time. The price: back-references are not supported, and
// that is reported here as std::invalid_argument naming the pattern.
std::regex compile_request_regex(const std::string& pattern);

}  // namespace baton::proxy
