// baton-lockd: session leases over HTTP/JSON for workers that are not behind
// baton-proxy (cron jobs, queue workers, WebSocket servers). See docs/lockd.md.
#include "baton/core/config.hpp"
#include "baton/core/log.hpp"
#include "server.hpp"

#include <spdlog/spdlog.h>

#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage =
    "usage: baton-lockd --config FILE [--check]\n"
    "       baton-lockd --version\n"
    "\n"
    "  --config FILE  the daemon's YAML configuration (docs/configuration.md, baton-lockd)\n"
    "  --check        validate the configuration and exit (0: valid, 1: not)\n"
    "  --version      print the version and exit\n";

struct Options {
  std::string config_file;
  bool check = false;
};

int fail(std::string_view message) {
  std::cerr << "baton-lockd: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::cout << "baton-lockd " << BATON_VERSION << "\n";
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

  baton::core::LockdConfig config;
  try {
    config = baton::core::load_lockd_config_file(options.config_file);
  } catch (const baton::core::ConfigError& error) {
    return fail(error.what());
  }
  if (options.check) {
    std::cout << "baton-lockd: configuration file " << options.config_file << " is valid\n";
    return 0;
  }

  baton::core::init_logging(config.logging, config.instance_id);
  try {
    baton::lockd::Server server(std::move(config));
    return server.run();
  } catch (const std::exception& error) {
    spdlog::critical("cannot start: {}", error.what());
    return 1;
  }
}
