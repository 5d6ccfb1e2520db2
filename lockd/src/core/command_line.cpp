#include "baton/core/command_line.hpp"

namespace baton::core {

int fail(std::string_view program, std::string_view message) {
  std::cerr << program << ": " << message << "\n";
  return 1;
}

int parse_command_line(std::string_view program, std::string_view config_help, int argc,
                       char** argv, CommandLine& out) {
  const std::string usage = "usage: " + std::string(program) + " --config FILE [--check]\n" +
                            "       " + std::string(program) + " --version\n\n" +
                            "  --config FILE  " + std::string(config_help) + "\n" +
                            "  --check        validate the configuration and exit (0: valid, 1: not)\n"
                            "  --version      print the version and exit\n";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::cout << program << " " << BATON_VERSION << "\n";
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    }
    if (arg == "--check" || arg == "-t") {
      out.check = true;
    } else if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      out.config_file = argv[++i];
    } else {
      std::cerr << usage;
      return fail(program, "unexpected argument '" + std::string(arg) + "'");
    }
  }
  if (out.config_file.empty()) {
    std::cerr << usage;
    return fail(program, "--config FILE is required");
  }
  return -1;
}

}  // namespace baton::core
