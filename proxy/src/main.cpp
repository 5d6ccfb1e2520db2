// baton-proxy: the sidecar in front of one engine replica.
#include "baton/core/command_line.hpp"
#include "baton/proxy/server.hpp"

int main(int argc, char** argv) {
  return baton::core::run_program(
      "baton-proxy", "the deployment's YAML configuration (docs/configuration.md)", argc, argv,
      [](const std::string& file) { return baton::core::load_config_file(file); },
      [](baton::core::Config config) { return baton::proxy::Server(std::move(config)).run(); });
}
