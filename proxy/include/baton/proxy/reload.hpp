// What a SIGHUP may change in a running baton-proxy. Reloaded: routes, session rules,
// logging.level and admin tokens. Everything else (addresses, threads, the engine, the
// lease and Redis settings, the log format) is bound at start: a reload that changes it
// says so in the log and keeps the running value, as nginx does with `listen`.
#pragma once

#include "baton/core/config.hpp"

#include <string>
#include <vector>

namespace baton::proxy {

// The top-level keys (dotted below logging and admin) whose new values wait for a restart.
std::vector<std::string> keys_needing_restart(const core::Config& running, const core::Config& next);

}  // namespace baton::proxy
