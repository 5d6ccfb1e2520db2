// A Redis connection native to Asio: one TCP or TLS connection, pipelined, with a
// timeout per command and reconnection by itself (capped exponential backoff with
// jitter). One Client per worker thread; it is not thread-safe: every call is made on
// the thread running its executor's io_context.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/redis/error.hpp"
#include "baton/redis/resp.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace baton::redis {

struct Result {
  std::error_code error;  // redis::Error, or empty; an error *reply* is Error::server/script
  Reply reply;
  // The command went out on a connection. With Error::timeout or Error::unreachable it
  // may still run in Redis, later, after the caller has given up on it.
  bool written = false;
};

// Hooks on a client's traffic, for metrics. They run on the client's executor, once per
// command or connection change: keep them cheap, and thread-safe when one observer
// serves the clients of several threads.
class ClientObserver {
public:
  virtual ~ClientObserver() = default;
  // A command, or a pipelined batch, got all its replies this long after it was written.
  virtual void round_trip(std::chrono::nanoseconds elapsed) noexcept = 0;
  // A command failed: no reply (not connected, timed out, connection lost) or an error
  // reply. NOSCRIPT, which eval() answers by loading the script, is not a failure.
  virtual void command_failed() noexcept = 0;
  // The client started or stopped. With connection(), how many of the observed clients
  // are connected.
  virtual void client_running(bool running) noexcept = 0;
  // The connection is set up (after every (re)connection), or went down (also when the
  // client stops).
  virtual void connection(bool up) noexcept = 0;
};

// A Lua script, called by EVALSHA and loaded again on NOSCRIPT.
struct Script {
  explicit Script(std::string source);
  std::string source;
  std::string sha1;  // hex, computed from the source
};

struct ClientOptions {
  core::RedisUrl url;
  // TCP connect, TLS handshake, AUTH, SELECT and CLIENT SETNAME together.
  core::Duration connect_timeout{std::chrono::seconds(1)};
  core::Duration command_timeout{std::chrono::seconds(1)};
  // While replies are due and not one byte arrives for this long, the connection is
  // taken for dead (a paused server, a path lost without a FIN) and replaced.
  core::Duration stall_timeout{std::chrono::seconds(5)};
  core::Duration backoff_min{std::chrono::milliseconds(50)};
  core::Duration backoff_max{std::chrono::seconds(2)};
  std::string name;  // CLIENT SETNAME, to tell connections apart in CLIENT LIST
  ClientObserver* observer = nullptr;  // optional (Client only); must outlive the client

  // rediss:// only. The server certificate is checked against the system's CA store,
  // or against tls_ca_file (PEM) when set, and must name url.host.
  std::string tls_ca_file;
  bool tls_verify = true;  // false: accept any certificate (tests, never production)
  // A client certificate and its key (PEM), for servers with tls-auth-clients yes.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class Client {
public:
  // Throws (at start-up) when the TLS files cannot be loaded.
  Client(Executor executor, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting in the background; commands before the connection is up fail
  // at once (fail fast: never queue behind a dead server).
  void start();
  // Closes the connection and stops reconnecting; pending commands end with unreachable.
  void stop();
  bool connected() const;

  // One command. Error replies come back as Error::server with the reply attached.
  // Not for SUBSCRIBE or MONITOR (see Subscriber); a blocking command (BLPOP) holds up
  // every command pipelined behind it.
  // Without a connection: Error::unreachable at once, or Error::auth when the last
  // attempt to connect was refused by AUTH or SELECT.
  Awaitable<Result> command(std::vector<std::string> args);

  // Several commands written together, replies in order; one timeout for the batch.
  // A result without a reply carries the error that ended the batch.
  Awaitable<std::vector<Result>> pipeline(std::vector<std::vector<std::string>> commands);

  // EVALSHA, with SCRIPT LOAD and one retry on NOSCRIPT. An error reply is Error::script,
  // except the ones that describe the server's state rather than the script (LOADING,
  // BUSY, READONLY, OOM, ...): Error::server. `script` must outlive the call, and so
  // must the views of the first form (the caller awaits it at once, keeping them in its
  // frame); the second owns its keys and arguments.
  Awaitable<Result> eval(const Script& script, std::span<const std::string_view> keys,
                         std::span<const std::string_view> args);
  Awaitable<Result> eval(const Script& script, std::vector<std::string> keys,
                         std::vector<std::string> args);

  // Writes `commands` without waiting for their replies, which are read and dropped.
  // While disconnected they are kept for the next connection (at most
  // max_posted_commands, the oldest dropped first). For commands whose outcome the
  // caller does not need, such as undoing one that got no answer: on the same connection
  // Redis runs them after every command written before.
  void post(std::vector<std::vector<std::string>> commands);
  static constexpr std::size_t max_posted_commands = 4096;
  // Called after every (re)connection, on the client's executor.
  void on_connected(std::function<void()> callback);

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// EVAL with the script's source, for post(): no NOSCRIPT reply comes back to answer
// there by loading the script.
std::vector<std::string> eval_command(const Script& script, std::span<const std::string_view> keys,
                                      std::span<const std::string_view> args);

// The pub/sub side: one connection per worker thread, SUBSCRIBE per channel while at
// least one watcher wants it. Messages are wake-ups: their payload is not used.
class Subscriber {
public:
  Subscriber(Executor executor, ClientOptions options);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  void start();
  void stop();
  bool connected() const;

  // A watcher's view of one channel; the subscription ends with the last Watch of it.
  class Watch {
  public:
    virtual ~Watch() = default;
    // True when a message arrived since the watch began or since the last wait; false
    // at the deadline, or at once when the subscription was lost (reconnect) since the
    // last wait, and once more when it is back: the caller then retries on its own. One
    // wait at a time per Watch.
    virtual Awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline) = 0;
    // Ends the wait in progress, or else the next one, at once; it returns whether a
    // message arrived meanwhile.
    virtual void interrupt() = 0;
  };

  struct WatchResult {
    std::error_code error;  // Error::unreachable when not connected; Error::timeout
    std::shared_ptr<Watch> watch;
  };

  // Subscribes (if not already) and returns once Redis has confirmed, so that no
  // message published after this returns is missed. Waits at most the command timeout.
  Awaitable<WatchResult> watch(std::string channel);

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace baton::redis
