// Process-wide logging through spdlog: a human format on a terminal, one JSON object
// per line when `logging.format: json` (for log shippers).
#pragma once

#include "baton/core/config.hpp"

namespace baton::core {

// Sets spdlog's default logger: stderr, the configured level and format.
void init_logging(const LoggingConfig& config, const std::string& instance_id);

// Thread-safe: the level of the default logger from now on (a reload).
void set_log_level(LogLevel level);

}  // namespace baton::core
