#include "baton/proxy/reload.hpp"

namespace baton::proxy {

std::vector<std::string> keys_needing_restart(const core::Config& running, const core::Config& next) {
  std::vector<std::string> keys;
  const auto check = [&keys](bool same, const char* key) {
    if (!same) keys.emplace_back(key);
  };
  check(running.instance_id == next.instance_id, "instance_id");
  check(running.listen == next.listen, "listen");
  check(running.threads == next.threads, "threads");
  check(running.drain_timeout == next.drain_timeout, "drain_timeout");
  check(running.client == next.client, "client");
  check(running.upstream == next.upstream, "upstream");
  check(running.admin.listen == next.admin.listen, "admin.listen");
  check(running.lease == next.lease, "lease");
  check(running.redis == next.redis, "redis");
  check(running.logging.format == next.logging.format, "logging.format");
  check(running.logging.access_log == next.logging.access_log, "logging.access_log");
  check(running.logging.session_ids == next.logging.session_ids &&
            running.logging.session_hash_key == next.logging.session_hash_key,
        "logging.session_ids");
  return keys;
}

}  // namespace baton::proxy
