// baton-lockd: session leases over HTTP/JSON for workers that are not behind
// baton-proxy (cron jobs, queue workers, WebSocket servers). See docs/lockd.md.
#include "baton/core/command_line.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  return baton::core::run_program(
      "baton-lockd", "the daemon's YAML configuration (docs/configuration.md, baton-lockd)",
      argc, argv, [](const std::string& file) { return baton::core::load_lockd_config_file(file); },
      [](baton::core::LockdConfig config) { return baton::lockd::Server(std::move(config)).run(); });
}
