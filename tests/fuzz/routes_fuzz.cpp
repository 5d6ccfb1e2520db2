// Fuzz target: route matching (proxy/include/baton/proxy/routes.hpp).
//
// Input: byte 0 picks the method (from a list, or with its top bit set, the input's
// first space-separated word); the rest is the request target. The table is fixed:
// prefix and regex routes, with and without methods, an extension method. Invariants:
// - no crash, and the same answer twice;
// - the answer is the first route, in order, whose methods and path rule hold, checked
//   against a plain reading of the rules written here: the path is the target before the
//   first '?'; a prefix matches byte for byte; a regex must match the WHOLE path (checked
//   with a separately compiled, backtracking std::regex, on paths short enough for it);
// - in particular a regex route never matches a path it matches only a part of.
#include "baton/proxy/routes.hpp"

#include "fuzz_check.hpp"

#include <algorithm>
#include <array>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace {

using baton::core::RouteConfig;
using baton::proxy::RouteTable;
namespace http = boost::beast::http;

RouteConfig route(std::string name, std::string prefix, std::string regex, std::vector<std::string> methods) {
  RouteConfig config;
  config.name = std::move(name);
  config.match.prefix = std::move(prefix);
  config.match.regex = std::move(regex);
  config.match.methods = std::move(methods);
  return config;
}

const std::vector<RouteConfig>& routes() {
  static const std::vector<RouteConfig> table{
      route("axiom", "/axiom", "", {"POST"}),
      route("items", "", "/api/v[0-9]+/items/[^/]+", {"GET", "PUT"}),
      route("stream", "", "/sessions/([^/]+)/stream", {}),
      route("brew", "", "/pot(/[a-z0-9]+)+", {"BREW"}),  // an extension method
      route("purge", "/static/", "", {"PURGE"}),
      route("anchored", "", "^/v2(/.*)?$", {}),
      route("users", "", "/u/.*", {"DELETE", "PATCH"}),
      route("dots", "", "/f/[^.]*\\.(json|ya?ml)", {"GET"}),
      route("alternation", "", "/a|/b/c", {}),  // alternatives bind loosest: each must be whole
      route("empty-prefix-post", "", "/x/.+", {"OPTIONS"}),
      route("public", "/public", "", {"GET", "HEAD"}),
  };
  return table;
}

constexpr std::array<std::string_view, 14> methods{"GET",  "POST",  "PUT",   "DELETE",  "PATCH",
                                                   "HEAD", "PURGE", "BREW",  "OPTIONS", "get",
                                                   "post", "FOO",   "TRACE", ""};

// The rules of routes.hpp, written out plainly.
struct Oracle {
  std::vector<std::regex> regexes;  // default (backtracking) mode, per route; unused for prefixes

  Oracle() {
    for (const auto& config : routes()) {
      regexes.emplace_back(config.match.regex.empty() ? std::string("x") : config.match.regex, std::regex::ECMAScript);
    }
  }

  // nullopt when the path is too long for the backtracking engine's recursion.
  std::optional<bool> matches(std::size_t index, std::string_view method, std::string_view path) const {
    const auto& config = routes()[index];
    const auto& allowed = config.match.methods;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), method) == allowed.end()) return false;
    if (config.match.regex.empty()) return path.starts_with(config.match.prefix);
    if (path.size() > 512) return std::nullopt;
    return std::regex_match(path.begin(), path.end(), regexes[index]);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const RouteTable table(routes());
  static const Oracle oracle;
  baton::fuzz::Input input(data, size);
  const auto control = input.byte();
  std::string_view target = input.rest();
  std::string_view method = methods[control % methods.size()];
  if (control & 0x80) {
    const auto space = target.find(' ');
    method = target.substr(0, space);
    target = space == std::string_view::npos ? std::string_view{} : target.substr(space + 1);
  }
  const http::verb verb = http::string_to_verb(method);

  const RouteConfig* matched = table.match(verb, method, target);
  FUZZ_CHECK(matched == table.match(verb, method, target));

  const std::string_view path = target.substr(0, target.find('?'));
  FUZZ_CHECK(baton::proxy::request_path(target) == path);

  // The first route whose rules hold, by name (names are unique in the table).
  const auto& configs = routes();
  for (std::size_t index = 0; index < configs.size(); ++index) {
    const auto expected = oracle.matches(index, method, path);
    if (!expected) {
      // Too long for the oracle: only the route's own rule can be checked, if it won.
      if (matched != nullptr && matched->name == configs[index].name) return 0;
      continue;
    }
    if (*expected) {
      FUZZ_CHECK(matched != nullptr && matched->name == configs[index].name);
      return 0;
    }
    FUZZ_CHECK(matched == nullptr || matched->name != configs[index].name);
  }
  FUZZ_CHECK(matched == nullptr);
  return 0;
}
