// baton-lockd's configuration file: load_lockd_config_string and lockd_config_reference().
#include "baton/core/config.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#ifndef BATON_SOURCE_DIR
#error "lockd_config_test.cpp needs BATON_SOURCE_DIR (the repository root) to find docs/configuration.md"
#endif

namespace {

using namespace baton::core;
using namespace std::chrono_literals;

LockdConfig load(std::string_view yaml) { return load_lockd_config_string(yaml, "lockd.yaml"); }

ConfigError error_of(std::string_view yaml) {
  try {
    load(yaml);
  } catch (const ConfigError& error) {
    return error;
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  throw std::logic_error("unreachable");
}

void check_error(std::string_view yaml, int line, std::string_view key, std::string_view message_part) {
  const ConfigError error = error_of(yaml);
  INFO("yaml:\n" << yaml << "\nwhat(): " << std::string(error.what()));
  CHECK(error.file() == "lockd.yaml");
  CHECK(error.line() == line);
  CHECK(error.key() == key);
  CHECK(error.message().find(message_part) != std::string::npos);
}

std::string describe(const LockdConfig& c) {
  std::ostringstream out;
  const auto ms = [](Duration d) { return std::to_string(d.count()) + "ms"; };
  out << "instance_id=" << c.instance_id << " listen=" << c.listen.host << ':' << c.listen.port
      << " threads=" << c.threads << " drain=" << ms(c.drain_timeout) << '\n'
      << "lease=" << int(c.lease.backend) << ',' << ms(c.lease.ttl) << ',' << ms(c.lease.wait_timeout) << ','
      << c.lease.max_waiters << '\n'
      << "redis=" << c.redis.url.host << ':' << c.redis.url.port << ',' << c.redis.url.database << ','
      << c.redis.key_prefix << ',' << ms(c.redis.connect_timeout) << ',' << ms(c.redis.command_timeout) << '\n'
      << "logging=" << int(c.logging.level) << ',' << int(c.logging.format) << ',' << c.logging.access_log << '\n'
      << "limits=" << ms(c.limits.max_ttl) << ',' << ms(c.limits.max_wait);
  return out.str();
}

}  // namespace

TEST_SUITE("lockd config") {
  TEST_CASE("an empty file gives the documented defaults") {
    const LockdConfig config = load("");
    CHECK(config.file == "lockd.yaml");
    CHECK(!config.instance_id.empty());
    CHECK(config.listen.host == "127.0.0.1");
    CHECK(config.listen.port == 9910);
    CHECK(config.threads == std::max(1U, std::thread::hardware_concurrency()));
    CHECK(config.drain_timeout == 30s);
    CHECK(config.lease.backend == LeaseBackend::redis);
    CHECK(config.lease.ttl == 30s);
    CHECK(config.lease.wait_timeout == 10s);
    CHECK(config.lease.max_waiters == 64);
    CHECK(config.redis.key_prefix == "baton");
    CHECK(config.limits.max_ttl == 10min);
    CHECK(config.limits.max_wait == 1min);
  }

  TEST_CASE("every key can be set") {
    const LockdConfig config = load(R"(
instance_id: lockd-a
listen: 0.0.0.0:7000
threads: 3
drain_timeout: 5s
lease: { backend: memory, ttl: 1m, wait_timeout: 0s, max_waiters: 2 }
redis: { url: "redis://cache:7001/2", key_prefix: app, connect_timeout: 2s, command_timeout: 250ms }
logging: { level: debug, format: json, access_log: false }
limits: { max_ttl: 1h, max_wait: 0s }
)");
    CHECK(describe(config) ==
          "instance_id=lockd-a listen=0.0.0.0:7000 threads=3 drain=5000ms\n"
          "lease=1,60000ms,0ms,2\n"
          "redis=cache:7001,2,app,2000ms,250ms\n"
          "logging=1,1,0\n"
          "limits=3600000ms,0ms");
  }

  TEST_CASE("every documented default is accepted and equals the built-in default") {
    YAML::Node document;
    for (const KeyReference& entry : lockd_config_reference()) {
      if (entry.default_value.empty()) continue;
      const auto dot = entry.key.find('.');
      if (dot == std::string::npos)
        document[entry.key] = YAML::Load(entry.default_value);
      else
        document[entry.key.substr(0, dot)][entry.key.substr(dot + 1)] = YAML::Load(entry.default_value);
    }
    const std::string yaml = YAML::Dump(document);
    INFO(yaml);
    CHECK(describe(load(yaml)) == describe(load("")));
  }

  TEST_CASE("keys of baton-proxy's file that do not apply are unknown") {
    check_error("upstream: { url: http://127.0.0.1:3000 }\n", 1, "upstream", "unknown key");
    check_error("lease:\n  max_hold: 5m\n", 2, "lease.max_hold", "unknown key");
    check_error("lease:\n  on_backend_down: fail_open\n", 2, "lease.on_backend_down", "unknown key");
    check_error("limits:\n  max_tll: 5m\n", 2, "limits.max_tll", "did you mean 'max_ttl'");
    CHECK_THROWS_AS(load_config_string("limits: { max_ttl: 5m }\n"), ConfigError);  // and the other way round
  }

  TEST_CASE("values are checked like baton-proxy's") {
    check_error("limits:\n  max_wait: soon\n", 2, "limits.max_wait", "invalid duration");
    check_error("limits:\n  max_ttl: 50ms\n", 2, "limits.max_ttl", "at least 100ms");
    check_error("listen: 127.0.0.1\n", 1, "listen", "host:port");
    check_error("lease:\n  backend: etcd\n", 2, "lease.backend", "expected one of redis, memory");
  }

  TEST_CASE("the lease defaults must be within the limits") {
    check_error("lease:\n  ttl: 20m\n", 2, "lease.ttl", "at most limits.max_ttl (10m)");
    check_error("lease:\n  wait_timeout: 2m\n", 2, "lease.wait_timeout", "at most limits.max_wait (1m)");
    // With the lease default left alone, the limit that excludes it is to blame.
    check_error("limits:\n  max_ttl: 10s\n", 2, "limits.max_ttl", "lease.ttl (30s) must be at most");
    check_error("limits:\n  max_wait: 0s\n", 2, "limits.max_wait", "lease.wait_timeout (10s)");
    CHECK(load("lease: { wait_timeout: 0s }\nlimits: { max_wait: 0s }\n").limits.max_wait == 0s);
  }

  TEST_CASE("docs/configuration.md lists exactly the keys of lockd_config_reference()") {
    std::ifstream file(BATON_SOURCE_DIR "/docs/configuration.md");
    REQUIRE(file.good());

    // The rows under "### baton-lockd keys" read "| key | `default` | description |".
    std::map<std::string, std::string> documented_rows;
    bool in_section = false;
    for (std::string line; std::getline(file, line);) {
      if (line.starts_with("#")) in_section = line == "### baton-lockd keys";
      if (!in_section || !line.starts_with("| ") || line.starts_with("| Key ") || line.starts_with("|--")) continue;
      const auto key_end = line.find(' ', 2);
      REQUIRE(key_end != std::string::npos);
      documented_rows[line.substr(2, key_end - 2)] = line;
    }
    REQUIRE(!documented_rows.empty());

    for (const KeyReference& entry : lockd_config_reference()) {
      INFO("key: " << entry.key);
      const std::string value = entry.default_value.empty() ? "" : "`" + entry.default_value + "`";
      const auto documented = documented_rows.find(entry.key);
      CHECK_MESSAGE(documented != documented_rows.end(), "missing from docs/configuration.md");
      if (documented != documented_rows.end())
        CHECK(documented->second == "| " + entry.key + " | " + value + " | " + entry.description + " |");
    }
    const auto& reference = lockd_config_reference();
    for (const auto& [key, line] : documented_rows) {
      INFO("key: " << key);
      CHECK_MESSAGE(std::any_of(reference.begin(), reference.end(), [&key](const KeyReference& e) { return e.key == key; }),
                    "in docs/configuration.md but not in lockd_config_reference()");
    }
  }
}
