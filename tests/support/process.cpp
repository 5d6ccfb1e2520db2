#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace baton::test {
namespace {

constexpr std::size_t log_tail_bytes = 16 * 1024;
constexpr milliseconds poll_interval{10};

std::system_error last_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

// Closes a file descriptor when it goes out of scope.
class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }

private:
  int fd_;
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Our environment with `extra` added; an extra entry replaces ours of the same name.
std::vector<std::string> child_environment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> result;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto name = text.substr(0, text.find('='));
    const bool replaced = std::any_of(extra.begin(), extra.end(),
                                      [&](const auto& pair) { return pair.first == name; });
    if (!replaced) result.emplace_back(text);
  }
  for (const auto& [name, value] : extra) result.push_back(name + "=" + value);
  return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& text : strings) result.push_back(text.data());
  result.push_back(nullptr);
  return result;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/baton-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw last_error("mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::ostream& operator<<(std::ostream& out, const ExitStatus& status) {
  if (status.code) return out << "exit code " << *status.code;
  if (status.signal) return out << "killed by signal " << *status.signal << " (" << strsignal(*status.signal) << ")";
  return out << "unknown exit status";
}

Process::Process(ProcessOptions options)
    : options_(std::move(options)),
      name_(std::filesystem::path(options_.program).filename().string()),
      log_on_failure_(LogTail{this}) {
  std::vector<std::string> argv_strings{options_.program};
  argv_strings.insert(argv_strings.end(), options_.args.begin(), options_.args.end());
  auto env_strings = child_environment(options_.env);
  auto argv = c_strings(argv_strings);
  auto envp = c_strings(env_strings);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options_.log_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);

  // The test runner installs signal handlers and may block signals; the child must
  // start with the defaults or SIGTERM tests would test the runner's settings.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t all_signals;
  sigset_t no_signals;
  sigfillset(&all_signals);
  sigemptyset(&no_signals);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  const int error = ::posix_spawn(&pid_, options_.program.c_str(), &actions, &attributes,
                                  argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    pid_ = -1;
    throw std::system_error(error, std::generic_category(), "spawn " + options_.program);
  }
}

Process::~Process() {
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) reap(status);
  }
}

void Process::signal(int signal_number) {
  if (pid_ > 0 && !exit_status_) ::kill(pid_, signal_number);
}

bool Process::running() {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) reap(status);
  return !exit_status_;
}

std::optional<ExitStatus> Process::wait_for_exit(milliseconds timeout) {
  wait_until(timeout, [this] { return !running(); });
  return exit_status_;
}

void Process::reap(int wait_status) {
  ExitStatus status;
  if (WIFEXITED(wait_status)) status.code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) status.signal = WTERMSIG(wait_status);
  exit_status_ = status;
}

void Process::LogTail::operator()(std::ostream* out) const {
  std::string log = process->log();
  const bool cut = log.size() > log_tail_bytes;
  if (cut) log.erase(0, log.size() - log_tail_bytes);
  *out << "--- " << process->name_ << " (pid " << process->pid_ << ") log "
       << process->options_.log_file.string() << (cut ? ", last 16 KiB" : "") << " ---\n"
       << log << "--- end of " << process->name_ << " log ---";
}

bool wait_until(milliseconds timeout, const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll_interval);
  }
}

std::uint16_t free_port() {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.get() < 0) throw last_error("socket");
  auto address = loopback(0);
  if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw last_error("bind 127.0.0.1:0");
  socklen_t length = sizeof address;
  if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw last_error("getsockname");
  return ntohs(address.sin_port);
}

bool port_accepts(std::uint16_t port) {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.get() < 0) throw last_error("socket");
  auto address = loopback(port);
  return ::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

bool wait_for_port(std::uint16_t port, milliseconds timeout) {
  return wait_until(timeout, [port] { return port_accepts(port); });
}

}  // namespace baton::test
