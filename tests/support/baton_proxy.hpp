// A real baton-proxy process on a free loopback port, for integration tests.
#pragma once

#include "support/process.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace baton::test {

// One baton-proxy run; the defaults suit most tests.
struct ProxySettings {
  std::uint16_t upstream_port = 0;
  unsigned threads = 1;
  std::string drain_timeout = "5s";
  std::string header_timeout = "1s";
  std::string idle_timeout = "5s";
  std::string max_header_size = "8k";
  std::string max_body_size = "1m";
  std::string read_timeout = "10s";  // well above any pause a test makes mid-stream
  std::string log_format = "text";
  std::string lease_backend = "memory";
  std::string lease_wait_timeout = "10s";
  std::string lease_extra;           // more keys of the lease section, e.g. "  ttl: 1s\n"
  std::string admin_extra;           // more keys of the admin section, e.g. "  token: t\n"
  std::string logging_extra;         // more keys of the logging section
  std::string extra_yaml;            // more top-level keys, appended as written
};

// The YAML file for `settings`, listening on `listen_port`.
std::string proxy_config(const ProxySettings& settings, std::uint16_t listen_port,
                         std::uint16_t admin_port);

// The baton-proxy under test. BATON_BIN_DIR in the environment tests another build than
// the one CMake configured.
std::string proxy_program();

// baton-proxy on a free port, accepting connections once constructed.
class BatonProxy {
public:
  explicit BatonProxy(const ProxySettings& settings);

  std::uint16_t port() const { return port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  const TempDir& dir() const { return dir_; }  // holds baton.yaml, the file SIGHUP rereads
  Process& process() { return *process_; }
  std::string log() const { return process_->log(); }

private:
  TempDir dir_;
  std::uint16_t port_;
  std::uint16_t admin_port_;
  std::optional<Process> process_;  // optional only to start it after the config is written
};

}  // namespace baton::test
