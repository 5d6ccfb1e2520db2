#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <span>
#include <stdexcept>
#include <string_view>

namespace baton::test {
namespace {

constexpr milliseconds start_timeout{10'000};
constexpr milliseconds exit_timeout{10'000};
constexpr int command_timeout_seconds = 5;

// The program's absolute path, from $PATH.
std::string find_program(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const auto dir = dirs.substr(0, colon);
    const auto candidate = std::filesystem::path(dir) / name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    dirs.remove_prefix(colon == std::string_view::npos ? dirs.size() : colon + 1);
  }
  throw std::runtime_error(std::string(name) + " not found in PATH");
}

// Runs a short-lived tool to completion; throws with its output when it fails.
void run_tool(const std::string& program, std::vector<std::string> args, const std::filesystem::path& log) {
  Process tool({.program = find_program(program), .args = std::move(args), .env = {}, .log_file = log});
  const auto status = tool.wait_for_exit(milliseconds(30'000));
  if (!status || !status->exited_with(0))
    throw std::runtime_error(program + " failed:\n" + read_file(log));
}

class Socket {
public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

// A blocking loopback connection with send and receive timeouts.
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval timeout{.tv_sec = command_timeout_seconds, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to redis-server on port " + std::to_string(port));
  }
  return fd;
}

}  // namespace

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)), port_(free_port()) {
  if (options_.tls) {
    tls_port_ = free_port();
    make_certificates();
  }
  start();
}

RedisServer::~RedisServer() {
  if (paused_ && process_) process_->signal(SIGCONT);
}

std::string RedisServer::url(int database) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(database);
}

std::string RedisServer::tls_url(int database) const {
  return "rediss://localhost:" + std::to_string(tls_port_) + "/" + std::to_string(database);
}

std::vector<std::string> RedisServer::arguments() const {
  std::vector<std::string> args{"--port", std::to_string(port_), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", dir_.path().string(),
                                "--daemonize", "no"};
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  if (options_.tls) {
    args.insert(args.end(), {"--tls-port", std::to_string(tls_port_),
                             "--tls-cert-file", (dir_ / "server.crt").string(),
                             "--tls-key-file", (dir_ / "server.key").string(),
                             "--tls-ca-cert-file", ca_file().string(),
                             "--tls-auth-clients", options_.tls_auth_clients});
  }
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  return args;
}

void RedisServer::start() {
  if (process_ && process_->running()) return;
  process_.reset();
  ++runs_;
  process_.emplace(ProcessOptions{.program = find_program("redis-server"),
                                  .args = arguments(),
                                  .env = {},
                                  .log_file = dir_ / ("redis-" + std::to_string(runs_) + ".log")});
  if (!wait_for_port(port_, start_timeout))
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ":\n" + log());
}

void RedisServer::stop(Data data) {
  if (!process_ || !process_->running()) return;
  resume();
  if (data == Data::keep) {
    const auto reply = command({"SAVE"});
    if (reply.is_error()) throw std::runtime_error("SAVE failed: " + reply.text);
  }
  process_->signal(SIGTERM);
  if (!process_->wait_for_exit(exit_timeout)) {
    process_->signal(SIGKILL);
    process_->wait_for_exit(exit_timeout);
  }
  if (data == Data::drop) std::filesystem::remove(dir_ / "dump.rdb");
}

bool RedisServer::running() { return process_ && process_->running(); }

void RedisServer::pause() {
  if (!process_) return;
  process_->signal(SIGSTOP);
  paused_ = true;
}

void RedisServer::resume() {
  if (!process_ || !paused_) return;
  process_->signal(SIGCONT);
  paused_ = false;
}

std::string RedisServer::log() const { return process_ ? process_->log() : std::string(); }

redis::Reply RedisServer::command(std::vector<std::string> args, int database) {
  std::vector<std::vector<std::string>> commands;
  if (!options_.password.empty()) commands.push_back({"AUTH", options_.password});
  if (database != 0) commands.push_back({"SELECT", std::to_string(database)});
  commands.push_back(std::move(args));
  std::string request;
  for (const auto& command : commands) redis::encode_command(std::span<const std::string>(command), request);

  Socket socket(connect_loopback(port_));
  for (std::size_t sent = 0; sent < request.size();) {
    const auto n = ::send(socket.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("cannot send to redis-server");
    sent += static_cast<std::size_t>(n);
  }
  redis::ReplyReader reader;
  std::vector<redis::Reply> replies;
  while (replies.size() < commands.size()) {
    std::error_code error;
    if (auto reply = reader.next(error)) {
      replies.push_back(std::move(*reply));
      continue;
    }
    if (error) throw std::runtime_error("redis-server sent bytes that are not RESP");
    char buffer[4096];
    const auto n = ::recv(socket.get(), buffer, sizeof buffer, 0);
    if (n <= 0) throw std::runtime_error("no answer from redis-server (closed or timed out)");
    reader.feed({buffer, static_cast<std::size_t>(n)});
  }
  for (std::size_t i = 0; i + 1 < replies.size(); ++i)
    if (replies[i].is_error()) throw std::runtime_error(commands[i][0] + " failed: " + replies[i].text);
  return std::move(replies.back());
}

void RedisServer::make_certificates() {
  const auto& dir = dir_.path();
  const auto log = dir / "openssl.log";
  const auto path = [&](const std::string& name) { return (dir / name).string(); };
  const std::vector<std::string> new_key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto with_key = [&](std::vector<std::string> args) {
    args.insert(args.begin() + 1, new_key.begin(), new_key.end());
    return args;
  };
  run_tool("openssl",
           with_key({"req", "-x509", "-keyout", path("ca.key"), "-out", path("ca.crt"), "-days", "2",
                     "-subj", "/CN=baton test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"}),
           log);
  const auto sign = [&](const std::string& name, const std::string& subject, const std::string& extensions) {
    write_file(dir / (name + ".ext"), extensions);
    run_tool("openssl",
             with_key({"req", "-keyout", path(name + ".key"), "-out",
                       path(name + ".csr"), "-subj", subject}),
             log);
    run_tool("openssl",
             {"x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.crt"), "-CAkey",
              path("ca.key"), "-CAcreateserial", "-out", path(name + ".crt"), "-days", "2",
              "-extfile", path(name + ".ext")},
             log);
  };
  sign("server", "/CN=localhost",
       "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  sign("client", "/CN=baton test client", "extendedKeyUsage=clientAuth\n");
}

}  // namespace baton::test
