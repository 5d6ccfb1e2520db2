#include "baton/proxy/routes.hpp"

#include <algorithm>
#include <stdexcept>

namespace baton::proxy {

std::string_view request_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::regex compile_request_regex(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize |
                                   std::regex_constants::__polynomial);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("regex '" + pattern + "': " + e.what() +
                                " (back-references are not supported)");
  }
}

RouteTable::RouteTable(std::vector<core::RouteConfig> routes) {
  routes_.reserve(routes.size());
  for (core::RouteConfig& config : routes) {
    CompiledRoute route{std::move(config), {}, {}};
    for (const std::string& name : route.config.match.methods)
      route.methods.push_back({http::string_to_verb(name), name});
    if (!route.config.match.regex.empty()) route.regex = compile_request_regex(route.config.match.regex);
    routes_.push_back(std::move(route));
  }
}

const core::RouteConfig* RouteTable::match(http::verb method, std::string_view method_string,
                                           std::string_view target) const {
  const std::string_view path = request_path(target);
  for (const CompiledRoute& route : routes_) {
    if (matches_method(route, method, method_string) && matches_path(route, path)) return &route.config;
  }
  return nullptr;
}

bool RouteTable::matches_method(const CompiledRoute& route, http::verb method,
                                std::string_view method_string) {
  if (route.methods.empty()) return true;
  return std::any_of(route.methods.begin(), route.methods.end(), [&](const Method& allowed) {
    // Known verbs compare as enums; extension methods by name.
    if (method != http::verb::unknown) return allowed.verb == method;
    return allowed.name == method_string;
  });
}

bool RouteTable::matches_path(const CompiledRoute& route, std::string_view path) {
  if (!route.config.match.regex.empty()) return std::regex_match(path.begin(), path.end(), route.regex);
  return path.starts_with(route.config.match.prefix);
}

}  // namespace baton::proxy
