// A real redis-server on a free loopback port, for integration tests: started by the
// constructor, killed by the destructor, its log printed when an assertion fails.
#pragma once

#include "support/process.hpp"

#include "baton/redis/resp.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace baton::test {

struct RedisServerOptions {
  // More redis-server arguments, one word each:
  // {"--user", "alice", "on", ">secret", "~*", "&*", "+@all"}.
  std::vector<std::string> args;
  // --requirepass; command() authenticates with it.
  std::string password;
  // Also serve TLS on tls_port(), with a CA and certificates made for this server.
  bool tls = false;
  std::string tls_auth_clients = "optional";  // redis-server's tls-auth-clients: no | optional | yes
};

class RedisServer {
public:
  enum class Data { keep, drop };

  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  // redis://127.0.0.1:<port>/<database>, without credentials.
  std::string url(int database = 0) const;
  // rediss://localhost:<tls port>/<database>: a host name, so that SNI and name
  // verification are exercised.
  std::string tls_url(int database = 0) const;
  // The CA that signed the server certificate (SAN localhost and 127.0.0.1), and a
  // client certificate it also signed.
  std::filesystem::path ca_file() const { return dir_ / "ca.crt"; }
  std::filesystem::path client_cert_file() const { return dir_ / "client.crt"; }
  std::filesystem::path client_key_file() const { return dir_ / "client.key"; }

  // Stops the server (SIGTERM). Data::keep saves the data set first, and the next
  // start() loads it; Data::drop starts the next run empty.
  void stop(Data data = Data::drop);
  // Starts it again on the same ports; returns once it accepts connections.
  void start();
  void restart(Data data = Data::drop) {
    stop(data);
    start();
  }
  bool running();

  // SIGSTOP / SIGCONT: the server keeps its connections but answers nothing.
  void pause();
  void resume();

  // One command on a fresh blocking connection (AUTH with the password, SELECT
  // `database`), for tests to arrange and inspect. Throws std::runtime_error when the
  // server cannot be reached or does not answer within 5 s.
  redis::Reply command(std::vector<std::string> args, int database = 0);

  std::string log() const;

private:
  void make_certificates();
  std::vector<std::string> arguments() const;

  RedisServerOptions options_;
  TempDir dir_;
  std::uint16_t port_;
  std::uint16_t tls_port_ = 0;
  std::optional<Process> process_;
  bool paused_ = false;
  unsigned runs_ = 0;
};

}  // namespace baton::test
