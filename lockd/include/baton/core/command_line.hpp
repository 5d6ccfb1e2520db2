// The command line baton-proxy and baton-lockd share:
//   <program> --config FILE [--check]     serve, or validate the file and exit 0 or 1
//   <program> --version | --help
#pragma once

#include "baton/core/config.hpp"
#include "baton/core/log.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace baton::core {

struct CommandLine {
  std::string config_file;
  bool check = false;
};

// Parses argv into `out`. Returns an exit code when the program must end now (--version,
// --help, a usage error, printed here), or -1 to go on.
int parse_command_line(std::string_view program, std::string_view config_help, int argc,
                       char** argv, CommandLine& out);

// Prints "<program>: <message>" on stderr; returns 1.
int fail(std::string_view program, std::string_view message);

// The whole main(): parse, load the file with `load` (ConfigError -> exit 1 with file,
// line and key), stop there on --check, else start logging and `serve(config)`.
template <class Load, class Serve>
int run_program(std::string_view program, std::string_view config_help, int argc, char** argv,
                Load load, Serve serve) {
  CommandLine command_line;
  if (int code = parse_command_line(program, config_help, argc, argv, command_line); code >= 0) {
    return code;
  }
  decltype(load(command_line.config_file)) config;
  try {
    config = load(command_line.config_file);
  } catch (const ConfigError& error) {
    return fail(program, error.what());
  }
  if (command_line.check) {
    std::cout << program << ": configuration file " << command_line.config_file << " is valid\n";
    return 0;
  }
  init_logging(config.logging, config.instance_id);
  try {
    return serve(std::move(config));
  } catch (const std::exception& error) {
    spdlog::critical("cannot start: {}", error.what());
    return 1;
  }
}

}  // namespace baton::core
