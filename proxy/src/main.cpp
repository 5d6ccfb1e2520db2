// baton-proxy: the sidecar in front of one engine replica.
#include "baton/core/config.hpp"
#include "baton/core/log.hpp"
#include "baton/proxy/server.hpp"

#include <cstdio>
#include <iostream>
#include <string_view>

namespace {

constexpr std::string_view usage =
    "usage: baton-proxy --config FILE [--check]\n"
    "       baton-proxy --version\n"
    "\n"
    "  --config FILE  the deployment's YAML configuration\n"
    "  --check        validate the configuration and exit (0: valid, 1: not)\n"
    "  --version      print the version and exit\n";

struct Options {
  std::string config_file;
  bool check = false;
};

int fail(std::string_view message) {
  std::cerr << "baton-proxy: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--version") {
      std::cout << "baton-proxy " << BATON_VERSION << "\n";
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    }
    if (arg == "--check" || arg == "-t") {
      options.check = true;
    } else if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      options.config_file = argv[++i];
    } else {
      std::cerr << usage;
      return fail("unexpected argument '" + std::string(arg) + "'");
    }
  }
  if (options.config_file.empty()) {
    std::cerr << usage;
    return fail("--config FILE is required");
  }

  baton::core::Config config;
  try {
    config = baton::core::load_config_file(options.config_file);
  } catch (const baton::core::ConfigError& error) {
    return fail(error.what());
  }
  if (options.check) {
    std::cout << "baton-proxy: configuration file " << options.config_file << " is valid\n";
    return 0;
  }

  baton::core::init_logging(config.logging, config.instance_id);
  try {
    baton::proxy::Server server(std::move(config));
    return server.run();
  } catch (const std::exception& error) {
    spdlog::critical("cannot start: {}", error.what());
    return 1;
  }
}
