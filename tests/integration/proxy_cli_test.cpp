// baton-proxy's command line: --version, --check, and the log formats.
#include "support/baton_proxy.hpp"
#include "support/test_engine.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <csignal>
#include <sstream>

namespace baton::test {
namespace {

using namespace std::chrono_literals;

// Runs baton-proxy with `args` to its end; its exit status and output.
std::pair<ExitStatus, std::string> run_proxy(const TempDir& dir, std::vector<std::string> args) {
  Process process(ProcessOptions{.program = proxy_program(),
                                 .args = std::move(args),
                                 .env = {},
                                 .log_file = dir / "output.log"});
  auto status = process.wait_for_exit(10s);
  REQUIRE_MESSAGE(status.has_value(), "baton-proxy did not exit");
  return {*status, process.log()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_SUITE("proxy command line") {
  TEST_CASE("--version prints the version and exits 0") {
    TempDir dir;
    auto [status, output] = run_proxy(dir, {"--version"});
    CHECK(status.exited_with(0));
    CHECK(output.rfind("baton-proxy ", 0) == 0);
  }

  TEST_CASE("--check accepts a valid file with exit code 0") {
    TempDir dir;
    write_file(dir / "baton.yaml", proxy_config({.upstream_port = 3000}, 8080, 9901));
    auto [status, output] = run_proxy(dir, {"--config", (dir / "baton.yaml").string(), "--check"});
    CHECK(status.exited_with(0));
    CHECK(output.find("is valid") != std::string::npos);
  }

  TEST_CASE("--check rejects an invalid file with exit code 1, naming file, line and key") {
    TempDir dir;
    const auto file = (dir / "baton.yaml").string();
    write_file(file, "listen: 127.0.0.1:8080\nupstream:\n  url: http://127.0.0.1:3000\n"
                     "  connect_timeout: soon\n");
    auto [status, output] = run_proxy(dir, {"--config", file, "--check"});
    CHECK(status.exited_with(1));
    CHECK(output.find(file + ":4:") != std::string::npos);
    CHECK(output.find("upstream.connect_timeout") != std::string::npos);
  }

  TEST_CASE("a missing --config is a usage error") {
    TempDir dir;
    auto [status, output] = run_proxy(dir, {"--check"});
    CHECK(status.exited_with(1));
    CHECK(output.find("--config FILE is required") != std::string::npos);
  }

  TEST_CASE("logging.format json writes one JSON object per line") {
    TestEngine engine;
    std::string log;
    {
      BatonProxy proxy({.upstream_port = engine.port(), .log_format = "json"});
      proxy.process().signal(SIGTERM);
      REQUIRE(proxy.process().wait_for_exit(10s).has_value());
      log = proxy.log();
    }
    const auto lines = lines_of(log);
    REQUIRE(lines.size() >= 2);  // started, drained
    for (const auto& line : lines) {
      rapidjson::Document entry;
      entry.Parse(line.c_str());
      INFO("line: ", line);
      REQUIRE_FALSE(entry.HasParseError());
      CHECK(entry.HasMember("ts"));
      CHECK(entry.HasMember("level"));
      CHECK(entry.HasMember("instance_id"));
      CHECK(entry.HasMember("msg"));
    }
  }
}

}  // namespace baton::test
