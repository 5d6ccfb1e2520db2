// The access log: one JSON object per request and line on stdout (README.md, "Access
// log"), whatever logging.format says of the process's own log on stderr.
#pragma once

#include "baton/core/config.hpp"
#include "baton/proxy/request_record.hpp"

#include <rapidjson/fwd.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

struct evp_mac_ctx_st;

namespace spdlog {
class logger;
}

namespace baton::proxy {

// How logging.session_ids: hash names a session: the first 16 hex digits of
// HMAC-SHA256(key, session). Stable per key; without the key it reveals nothing.
// Keyed once; thread-safe.
class SessionHasher {
public:
  using Hash = std::array<char, 16>;

  // Throws std::runtime_error when OpenSSL cannot set up the HMAC.
  explicit SessionHasher(std::string_view key);
  ~SessionHasher();
  SessionHasher(const SessionHasher&) = delete;
  SessionHasher& operator=(const SessionHasher&) = delete;

  // False when OpenSSL fails (then nothing should be logged, never the plain id).
  bool hash(std::string_view session, Hash& out) const;

private:
  evp_mac_ctx_st* keyed_ = nullptr;
};

class AccessLog {
public:
  // The logger "access", pattern "%v", that writes each line to stdout in one write(2):
  // no lock, and lines of several threads never interleave.
  static std::shared_ptr<spdlog::logger> stdout_logger();

  // Lines go to `logger` at level info. Throws std::runtime_error when the session hash
  // (logging.session_ids: hash) cannot be set up.
  AccessLog(const core::LoggingConfig& config, std::string instance_id,
            std::shared_ptr<spdlog::logger> logger = stdout_logger());
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Thread-safe: the worker threads share one AccessLog.
  void write(const RequestRecord& record) const;

  // The JSON object for `record`, without the line end.
  std::string line(const RequestRecord& record) const;

private:
  void format(const RequestRecord& record, rapidjson::StringBuffer& out) const;

  std::string instance_id_;
  std::unique_ptr<SessionHasher> hasher_;  // set with logging.session_ids: hash
  std::shared_ptr<spdlog::logger> logger_;
};

// SessionHasher's hash as a string, empty when OpenSSL fails.
std::string session_hash(std::string_view key, std::string_view session);

}  // namespace baton::proxy
