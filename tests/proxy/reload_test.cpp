#include "baton/proxy/reload.hpp"

#include <doctest/doctest.h>

namespace baton::proxy {

TEST_SUITE("reload") {
  TEST_CASE("routes, session rules, log level and admin tokens reload; other keys wait for a restart") {
    const core::Config running = core::load_config_string("routes: [{match: {prefix: /}}]\n");
    const core::Config reloadable = core::load_config_string(
        "routes: [{match: {prefix: /a}, lease: required}]\n"
        "session: {sources: [{cookie: sid}]}\n"
        "logging: {level: debug}\n"
        "admin: {token: t}\n");
    CHECK(keys_needing_restart(running, reloadable).empty());

    const core::Config bound = core::load_config_string(
        "listen: 0.0.0.0:9000\n"
        "upstream: {url: 'http://127.0.0.1:4000'}\n"
        "lease: {ttl: 5s}\n"
        "redis: {key_prefix: other}\n"
        "admin: {listen: 127.0.0.1:9999}\n"
        "logging: {format: json, session_ids: hash, session_hash_key: k}\n");
    CHECK(keys_needing_restart(running, bound) ==
          std::vector<std::string>{"listen", "upstream", "admin.listen", "lease", "redis", "logging.format",
                                   "logging.session_ids"});
  }
}

}  // namespace baton::proxy
