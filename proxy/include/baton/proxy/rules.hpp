// The request rules of one configuration, compiled once and shared read-only by every
// worker: which route a request takes, and where its session id is.
#pragma once

#include "baton/core/config.hpp"
#include "baton/proxy/routes.hpp"
#include "baton/proxy/session_id.hpp"

namespace baton::proxy {

struct ProxyRules {
  explicit ProxyRules(const core::Config& config)
      : routes(config.routes), sessions(config.session) {}

  RouteTable routes;
  SessionIdExtractor sessions;
};

}  // namespace baton::proxy
