#include "baton/redis/client.hpp"

#include "connector.hpp"
#include "link.hpp"
#include "reply_queue.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <iterator>
#include <span>
#include <stdexcept>

namespace baton::redis {
namespace {

using Clock = std::chrono::steady_clock;

// A caller waiting for its replies. It lives in the caller's coroutine frame; the
// reply queue points to it until every reply came, the caller gave up, or the
// connection dropped. The timer is both the timeout and the wake-up: the reader
// cancels it when the last reply lands.
struct Waiter {
  Waiter(Executor executor, std::span<Result> slots) : timer(executor), results(slots) {}

  void deliver(Reply& reply) {
    Result& result = results[received++];
    result.error = reply.is_error() ? std::error_code(Error::server) : std::error_code();
    result.reply = std::move(reply);
    if (complete()) timer.cancel();
  }
  void drop() {
    dropped = true;
    timer.cancel();
  }
  bool complete() const { return received == results.size(); }

  SteadyTimer timer;
  std::span<Result> results;
  std::size_t received = 0;
  bool dropped = false;  // the connection went down first
};

// Error replies that say the server cannot run anything now, not that the script failed.
bool is_server_state_error(const Reply& reply) {
  for (const char* prefix : {"LOADING", "BUSY", "READONLY", "MASTERDOWN", "MISCONF", "OOM",
                             "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN"})
    if (reply.is_error(prefix)) return true;
  return false;
}

std::string encoded(std::span<const std::vector<std::string>> commands) {
  std::string out;
  for (const auto& args : commands) encode_command(args, out);
  return out;
}

std::vector<std::string_view> views_of(const std::vector<std::string>& strings) {
  return {strings.begin(), strings.end()};
}

void check_not_empty(std::span<const std::vector<std::string>> commands) {
  // Redis does not answer an empty command, which would shift every later reply.
  for (const auto& args : commands)
    if (args.empty()) throw std::invalid_argument("empty Redis command");
}

}  // namespace

struct Client::Impl {
  Impl(Executor executor_in, ClientOptions options_in)
      : executor(executor_in),
        options(std::move(options_in)),
        connector(executor, options, "commands") {}

  static Awaitable<void> run(std::shared_ptr<Impl> self);
  bool on_reply(Reply& reply);
  // Writes `commands` (RESP, as many as `results` has room for) and waits for their
  // replies into `results`. Both live in the calling coroutine's frame, which awaits
  // this at once.
  Awaitable<void> transact(std::string_view commands, std::span<Result> results);
  // Tells the observer, if any, how a transaction went; `written_at` is unset when it
  // got no (complete) answer.
  void report(std::span<const Result> results, Clock::time_point written_at);
  void report_connection(bool up);
  // Writes `count` commands (RESP) on the open link, their replies due to `waiter`
  // (null: dropped). The first reply's sequence number.
  ReplyQueue<Waiter>::Sequence write(std::string_view commands, std::size_t count, Waiter* waiter);
  // SCRIPT LOAD and the EVALSHA (RESP) again, in one round trip.
  Awaitable<Result> load_and_run(const Script& script, std::string_view evalsha);

  Executor executor;
  ClientOptions options;
  Connector connector;
  std::shared_ptr<Link> link;  // set while connected
  ReplyQueue<Waiter> queue;
  std::vector<std::function<void()>> connected_callbacks;
  std::vector<std::vector<std::string>> posted;  // post()ed while disconnected
  bool posted_overflowed = false;  // and some dropped, since the last connection
  bool started = false;
  bool stopped = false;
  bool reported_up = false;  // what the observer was told last
};

Awaitable<void> Client::Impl::run(std::shared_ptr<Impl> self) {
  for (;;) {
    const auto link = co_await self->connector.connect();
    if (!link) co_return;
    self->link = link;
    self->report_connection(true);
    if (!self->posted.empty()) {
      self->write(encoded(self->posted), self->posted.size(), nullptr);
      self->posted.clear();
      self->posted_overflowed = false;
    }
    for (const auto& callback : self->connected_callbacks) {
      try {
        callback();
      } catch (const std::exception& error) {  // the connection loop must go on
        spdlog::error("redis on_connected callback failed: {}", error.what());
      }
    }
    co_await link->read([impl = self.get()](Reply& reply) { return impl->on_reply(reply); });
    self->link.reset();
    self->report_connection(false);
    self->queue.clear([](Waiter& waiter) { waiter.drop(); });
    if (self->stopped) co_return;
    self->connector.lost(*link);
  }
}

bool Client::Impl::on_reply(Reply& reply) {
  if (queue.empty()) return false;
  Waiter* waiter = queue.pop();
  link->replies_due(!queue.empty());
  if (waiter != nullptr) waiter->deliver(reply);
  return true;
}

Awaitable<void> Client::Impl::transact(std::string_view commands, std::span<Result> results) {
  if (results.empty()) co_return;
  // While the first connection attempt is under way, wait for it rather than fail: a
  // process that has just started is not facing a Redis that is down.
  if (!link && started && !connector.attempted()) co_await connector.first_attempt();
  if (!link || !link->is_open()) {
    for (auto& result : results) result.error = connector.unavailable();
    report(results, {});
    co_return;
  }
  // One clock read per command, and only when someone watches.
  const auto written_at = options.observer ? Clock::now() : Clock::time_point{};
  Waiter waiter(executor, results);
  for (auto& result : results) result.written = true;
  const auto first = write(commands, results.size(), &waiter);

  waiter.timer.expires_after(options.command_timeout);
  beast::error_code ignored;
  co_await waiter.timer.async_wait(net::redirect_error(use_awaitable, ignored));
  if (waiter.complete()) {
    report(results, written_at);
    co_return;
  }
  if (!waiter.dropped) queue.abandon(first, results.size());
  const std::error_code error = waiter.dropped ? Error::unreachable : Error::timeout;
  for (std::size_t i = waiter.received; i < results.size(); ++i) results[i].error = error;
  report(results, {});
}

ReplyQueue<Waiter>::Sequence Client::Impl::write(std::string_view commands, std::size_t count, Waiter* waiter) {
  const bool was_idle = queue.empty();
  link->enqueue_encoded(commands);
  const auto first = queue.push(waiter, count);
  link->flush();
  if (was_idle) link->replies_due(true);
  return first;
}

void Client::Impl::report_connection(bool up) {
  if (up == reported_up) return;
  reported_up = up;
  if (options.observer) options.observer->connection(up);
}

void Client::Impl::report(std::span<const Result> results, Clock::time_point written_at) {
  ClientObserver* observer = options.observer;
  if (!observer) return;
  if (written_at != Clock::time_point{}) observer->round_trip(Clock::now() - written_at);
  for (const auto& result : results)
    if (result.error && !result.reply.is_error("NOSCRIPT")) observer->command_failed();
}

Awaitable<Result> Client::Impl::load_and_run(const Script& script, std::string_view evalsha) {
  const std::array<std::string_view, 3> load{"SCRIPT", "LOAD", script.source};
  std::string commands;
  encode_command(load, commands);
  commands.append(evalsha);
  std::array<Result, 2> results;
  co_await transact(commands, results);
  const bool load_failed = results[0].reply.is_error();
  co_return std::move(results[load_failed ? 0 : 1]);
}

Client::Client(Executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(executor, std::move(options))) {}

Client::~Client() { stop(); }

void Client::start() {
  if (impl_->started) return;
  impl_->started = true;
  if (impl_->options.observer) impl_->options.observer->client_running(true);
  spawn_loop(impl_->executor, Impl::run(impl_), "redis client loop");
}

void Client::stop() {
  if (impl_->started && !impl_->stopped) {
    impl_->report_connection(false);
    if (impl_->options.observer) impl_->options.observer->client_running(false);
  }
  impl_->stopped = true;
  impl_->connector.stop();
  if (impl_->link) impl_->link->close();
}

bool Client::connected() const { return impl_->link && impl_->link->is_open(); }

void Client::post(std::vector<std::vector<std::string>> commands) {
  check_not_empty(commands);
  if (impl_->stopped) return;
  if (impl_->link && impl_->link->is_open()) {
    impl_->write(encoded(commands), commands.size(), nullptr);
    return;
  }
  auto& posted = impl_->posted;
  std::move(commands.begin(), commands.end(), std::back_inserter(posted));
  if (posted.size() > max_posted_commands) {
    if (!impl_->posted_overflowed)
      spdlog::warn("redis: more than {} commands posted while disconnected; dropping the oldest",
                   max_posted_commands);
    impl_->posted_overflowed = true;
    posted.erase(posted.begin(), posted.end() - static_cast<std::ptrdiff_t>(max_posted_commands));
  }
}

void Client::on_connected(std::function<void()> callback) {
  impl_->connected_callbacks.push_back(std::move(callback));
}

Awaitable<Result> Client::command(std::vector<std::string> args) {
  const auto impl = impl_;  // the client may be destroyed while this waits
  check_not_empty({&args, 1});
  std::string encoded_command;
  encode_command(args, encoded_command);
  Result result;
  co_await impl->transact(encoded_command, {&result, 1});
  co_return result;
}

Awaitable<std::vector<Result>> Client::pipeline(std::vector<std::vector<std::string>> commands) {
  const auto impl = impl_;
  check_not_empty(commands);
  const std::string encoded_commands = encoded(commands);
  std::vector<Result> results(commands.size());
  co_await impl->transact(encoded_commands, results);
  co_return results;
}

Awaitable<Result> Client::eval(const Script& script, std::span<const std::string_view> keys,
                               std::span<const std::string_view> args) {
  const auto impl = impl_;
  const std::string key_count = std::to_string(keys.size());
  const std::array<std::string_view, 3> head{"EVALSHA", script.sha1, key_count};
  std::string command;
  encode_command_of({head, keys, args}, command);
  Result result;
  co_await impl->transact(command, {&result, 1});
  // Redis lost its script cache (restart, failover, SCRIPT FLUSH): load and run again.
  if (result.reply.is_error("NOSCRIPT")) result = co_await impl->load_and_run(script, command);
  if (result.error == Error::server && !is_server_state_error(result.reply)) result.error = Error::script;
  co_return result;
}

Awaitable<Result> Client::eval(const Script& script, std::vector<std::string> keys,
                               std::vector<std::string> args) {
  const auto key_views = views_of(keys);
  const auto arg_views = views_of(args);
  co_return co_await eval(script, key_views, arg_views);
}

std::vector<std::string> eval_command(const Script& script, std::span<const std::string_view> keys,
                                      std::span<const std::string_view> args) {
  std::vector<std::string> command{"EVAL", script.source, std::to_string(keys.size())};
  command.reserve(command.size() + keys.size() + args.size());
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

}  // namespace baton::redis
