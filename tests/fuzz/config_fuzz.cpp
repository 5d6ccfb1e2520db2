// Fuzz target: the configuration loader (lockd/include/baton/core/config.hpp).
//
// Input: the YAML text, loaded as a baton-proxy file and as a baton-lockd file.
// Invariants:
// - the loader returns a Config or throws a ConfigError, never another exception (an
//   uncaught one aborts) and never an "internal error" (the loader's catch-all for an
//   exception it did not expect: a bug);
// - a ConfigError has a line and column >= 0, names the file, and has a message;
// - a Config has its computed defaults filled in (instance id, threads, a session
//   source, a route), every route exactly one of prefix and regex and a name;
// - a Config the loader accepts compiles into the proxy's rules (RouteTable and
//   SessionIdExtractor, as a start or a SIGHUP reload does) without throwing: every
//   regex and JSON pointer the loader lets through, the proxy can use.
#include "baton/core/config.hpp"
#include "baton/proxy/rules.hpp"

#include "fuzz_check.hpp"

#include <string>
#include <string_view>

namespace {

using baton::core::ConfigError;

constexpr auto file_name = "fuzz.yaml";

void check_error(const ConfigError& error) {
  FUZZ_CHECK(error.line() >= 0);
  FUZZ_CHECK(error.column() >= 0);
  FUZZ_CHECK(error.file() == file_name);
  FUZZ_CHECK(!error.message().empty());
  FUZZ_CHECK(!std::string_view(error.message()).starts_with("internal error"));
  // what() reads "file:line:column: key: message" (no line and column for line 0), as a
  // C string: it ends at a NUL byte that a key or value quoted from the file had.
  std::string described = error.file();
  if (error.line() > 0) described += ":" + std::to_string(error.line()) + ":" + std::to_string(error.column());
  described += ": ";
  if (!error.key().empty()) described += error.key() + ": ";
  described += error.message();
  FUZZ_CHECK(std::string_view(error.what()) == std::string_view(described.c_str()));
}

void check_proxy_config(std::string_view yaml) {
  baton::core::Config config;
  try {
    config = baton::core::load_config_string(yaml, file_name);
  } catch (const ConfigError& error) {
    check_error(error);
    return;
  }
  FUZZ_CHECK(config.file == file_name);
  FUZZ_CHECK(!config.instance_id.empty());
  FUZZ_CHECK(config.threads >= 1);
  FUZZ_CHECK(!config.session.sources.empty());
  FUZZ_CHECK(!config.routes.empty());
  for (const auto& route : config.routes) {
    FUZZ_CHECK(route.match.prefix.empty() != route.match.regex.empty());
    FUZZ_CHECK(!route.name.empty());
  }
  try {
    const baton::proxy::ProxyRules rules(config);
    FUZZ_CHECK(rules.routes.size() == config.routes.size());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "accepted by the loader, refused by the proxy: %s\n", error.what());
    baton::fuzz::check_failed("a loaded Config builds the proxy's rules", __FILE__, __LINE__);
  }
}

void check_lockd_config(std::string_view yaml) {
  try {
    const auto config = baton::core::load_lockd_config_string(yaml, file_name);
    FUZZ_CHECK(config.file == file_name);
    FUZZ_CHECK(!config.instance_id.empty());
    FUZZ_CHECK(config.threads >= 1);
  } catch (const ConfigError& error) {
    check_error(error);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  check_proxy_config(yaml);
  check_lockd_config(yaml);
  return 0;
}
