#include "support/baton_proxy.hpp"

#include <cstdlib>
#include <sstream>

namespace baton::test {

using namespace std::chrono_literals;

std::string proxy_config(const ProxySettings& settings, std::uint16_t listen_port,
                         std::uint16_t admin_port) {
  std::ostringstream yaml;
  yaml << "listen: 127.0.0.1:" << listen_port << "\n"
       << "threads: " << settings.threads << "\n"
       << "drain_timeout: " << settings.drain_timeout << "\n"
       << "client:\n"
       << "  header_timeout: " << settings.header_timeout << "\n"
       << "  idle_timeout: " << settings.idle_timeout << "\n"
       << "  max_header_size: " << settings.max_header_size << "\n"
       << "  max_body_size: " << settings.max_body_size << "\n"
       << "upstream:\n"
       << "  url: http://127.0.0.1:" << settings.upstream_port << "\n"
       << "  connect_timeout: 1s\n"
       << "  read_timeout: " << settings.read_timeout << "\n"
       << "  pool_size: 8\n"
       << "admin:\n"
       << "  listen: 127.0.0.1:" << admin_port << "\n"
       << settings.admin_extra
       << "lease:\n"
       << "  backend: " << settings.lease_backend << "\n"
       << "  wait_timeout: " << settings.lease_wait_timeout << "\n"
       << settings.lease_extra
       << "logging:\n"
       << "  level: debug\n"
       << "  format: " << settings.log_format << "\n"
       << settings.logging_extra
       << settings.extra_yaml;
  return yaml.str();
}

std::string proxy_program() {
  const char* dir = std::getenv("BATON_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : BATON_BIN_DIR) + "/baton-proxy";
}

BatonProxy::BatonProxy(const ProxySettings& settings) : port_(free_port()), admin_port_(free_port()) {
  const auto config = dir_ / "baton.yaml";
  write_file(config, proxy_config(settings, port_, admin_port_));
  process_.emplace(ProcessOptions{
      .program = proxy_program(),
      .args = {"--config", config.string()},
      .env = {},
      .log_file = dir_ / "baton-proxy.log",
  });
  const bool accepting =
      wait_until(10s, [this] { return port_accepts(port_) || !process_->running(); });
  REQUIRE_MESSAGE(process_->running(), "baton-proxy exited at start: ",
                  process_->wait_for_exit(0ms).value_or(ExitStatus{}));
  REQUIRE_MESSAGE(accepting, "baton-proxy does not accept on port ", port_);
}

}  // namespace baton::test
