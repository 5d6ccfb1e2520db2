// Child processes, loopback ports and temporary files for integration tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

namespace baton::test {

using std::chrono::milliseconds;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

// Replaces the file's content. Throws std::runtime_error when it cannot.
void write_file(const std::filesystem::path& path, std::string_view content);

// The whole file; empty when it does not exist.
std::string read_file(const std::filesystem::path& path);

// How a child ended.
struct ExitStatus {
  std::optional<int> code;    // set when it called exit()
  std::optional<int> signal;  // set when a signal killed it

  bool exited_with(int expected) const { return code == expected; }
};
std::ostream& operator<<(std::ostream& out, const ExitStatus& status);

struct ProcessOptions {
  std::string program;  // absolute path
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing) ours
  std::filesystem::path log_file;                        // receives stdout and stderr
};

// A running child. While it lives, every failed doctest assertion of the current test
// also prints the tail of the child's log, so CI output explains the failure. Killed
// (SIGKILL) on destruction if still running. Not movable: it is registered with doctest
// by address, so create it where it lives and destroy in reverse order of creation.
class Process {
public:
  explicit Process(ProcessOptions options);  // throws std::system_error if spawn fails
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  const std::string& name() const noexcept { return name_; }
  std::string log() const { return read_file(options_.log_file); }

  // No-op once the child has been reaped, so a recycled pid is never hit.
  void signal(int signal_number);

  bool running();

  // Reaps the child if it ends before the timeout; nullopt if it is still running.
  std::optional<ExitStatus> wait_for_exit(milliseconds timeout);

private:
  struct LogTail {
    const Process* process;
    void operator()(std::ostream* out) const;
  };

  void reap(int wait_status);

  ProcessOptions options_;
  std::string name_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_status_;
  doctest::detail::ContextScope<LogTail> log_on_failure_;
};

// Polls `condition` every few milliseconds; true as soon as it holds, false at the timeout.
bool wait_until(milliseconds timeout, const std::function<bool()>& condition);

// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
std::uint16_t free_port();

// One connection attempt to 127.0.0.1:port, closed at once.
bool port_accepts(std::uint16_t port);

// True once 127.0.0.1:port accepts a connection, false at the timeout.
bool wait_for_port(std::uint16_t port, milliseconds timeout);

}  // namespace baton::test
