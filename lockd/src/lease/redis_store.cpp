#include "baton/lease/redis_store.hpp"

#include "baton/lease/scripts.hpp"
#include "baton/lease/token.hpp"
#include "baton/redis/client.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace baton::lease {
namespace {

using std::chrono::milliseconds;

// The state hash keeps the last fence and holder; losing it is harmless (fences fall
// back to Redis TIME), so it only needs to outlive ordinary gaps between requests.
constexpr milliseconds state_ttl = std::chrono::hours(24);

// Each Script hashes its source once, for the whole process.
struct LeaseScripts {
  redis::Script acquire{std::string(scripts::acquire)};
  redis::Script release{std::string(scripts::release)};
  redis::Script renew{std::string(scripts::renew)};
  redis::Script leave{std::string(scripts::leave)};
  redis::Script inspect{std::string(scripts::inspect)};
  redis::Script force_release{std::string(scripts::force_release)};
  redis::Script list{std::string(scripts::list)};
};

const LeaseScripts& lease_scripts() {
  static const LeaseScripts instance;
  return instance;
}

// The keys of one session; the id sits in a hash tag so that they share a cluster slot.
// Each is built in one allocation: they are made twice per leased request.
struct SessionKeys {
  SessionKeys(std::string_view prefix, std::string_view session)
      : lease(key(prefix, session, "lease")),
        state(key(prefix, session, "state")),
        queue(key(prefix, session, "queue")),
        waits(key(prefix, session, "waits")),
        channel(key(prefix, session, "free")) {}

  std::string lease, state, queue, waits, channel;

private:
  static std::string key(std::string_view prefix, std::string_view session, std::string_view name) {
    std::string key;
    key.reserve(prefix.size() + session.size() + name.size() + 4);
    key.append(prefix).append(":{").append(session).append("}:").append(name);
    return key;
  }
};

long long integer_at(const redis::Reply& reply, std::size_t index) {
  if (index >= reply.elements.size()) return 0;
  const auto& element = reply.elements[index];
  if (element.type == redis::Reply::Type::integer) return element.integer;
  if (element.type == redis::Reply::Type::string) return std::atoll(element.text.c_str());
  return 0;
}

std::string text_at(const redis::Reply& reply, std::size_t index) {
  return index < reply.elements.size() ? reply.elements[index].text : std::string();
}

// inspect.lua's and force_release.lua's reply: {instance, request_id, route, fence, age, remaining, waiters}
LeaseInfo lease_info(std::string session, const redis::Reply& reply, std::size_t first = 0) {
  LeaseInfo info;
  info.session = std::move(session);
  info.instance = text_at(reply, first + 0);
  info.request_id = text_at(reply, first + 1);
  info.route = text_at(reply, first + 2);
  info.fence = static_cast<std::uint64_t>(integer_at(reply, first + 3));
  info.age = milliseconds(integer_at(reply, first + 4));
  info.remaining = milliseconds(std::max<long long>(integer_at(reply, first + 5), 0));
  info.waiters = static_cast<std::size_t>(integer_at(reply, first + 6));
  return info;
}

// Script keys and arguments. A function rather than a braced list at the call: g++ 12
// mishandles initializer lists inside co_await expressions.
template <class... Values>
std::vector<std::string> strings(Values&&... values) {
  std::vector<std::string> out;
  out.reserve(sizeof...(Values));
  (out.emplace_back(std::forward<Values>(values)), ...);
  return out;
}

std::string milliseconds_text(core::Duration duration) {
  return std::to_string(std::max<long long>(duration.count(), 0));
}

// The channel every lease script that changes who holds or waits publishes on.
std::string events_channel(const std::string& prefix) { return prefix + ":events"; }

// After a lost subscription, how soon a feed tries again while Redis cannot be reached.
constexpr milliseconds resubscribe_min{100};
constexpr milliseconds resubscribe_max{2000};

// A LeaseChanges over the events channel. The store's Subscriber shares one SUBSCRIBE
// among all the feeds of a thread.
class RedisLeaseChanges final : public LeaseChanges {
public:
  RedisLeaseChanges(Executor executor, redis::Subscriber& subscriber, std::string channel,
                    std::shared_ptr<redis::Subscriber::Watch> watch)
      : subscriber_(subscriber), channel_(std::move(channel)), watch_(std::move(watch)), timer_(executor) {}

  Awaitable<bool> wait_until(Clock::time_point deadline) override {
    while (!cancelled_) {
      if (watch_) {
        if (co_await watch_->wait_until(deadline)) co_return !cancelled_;
        if (cancelled_ || Clock::now() >= deadline) co_return false;
        watch_.reset();  // the subscription was lost: subscribe again below
      }
      auto subscribed = co_await subscriber_.watch(channel_);
      if (cancelled_) co_return false;
      if (!subscribed.error) {
        watch_ = std::move(subscribed.watch);
        retry_delay_ = resubscribe_min;
        co_return true;  // changes while it was lost went unseen: look again
      }
      if (Clock::now() >= deadline) co_return false;
      // The Subscriber reconnects by itself; until then, try again with backoff.
      timer_.expires_at(std::min(deadline, Clock::now() + retry_delay_));
      retry_delay_ = std::min(retry_delay_ * 2, resubscribe_max);
      beast::error_code ignored;
      co_await timer_.async_wait(net::redirect_error(use_awaitable, ignored));
    }
    co_return false;
  }

  void cancel() override {
    cancelled_ = true;
    timer_.cancel();
    if (watch_) watch_->interrupt();
  }

private:
  redis::Subscriber& subscriber_;
  std::string channel_;
  std::shared_ptr<redis::Subscriber::Watch> watch_;  // null while not subscribed
  SteadyTimer timer_;
  milliseconds retry_delay_ = resubscribe_min;
  bool cancelled_ = false;
};

// What one run of acquire.lua said.
struct Attempt {
  enum class Outcome { acquired, waiting, full, failed };
  Outcome outcome = Outcome::failed;
  Lease lease;
  Holder holder;
  std::size_t position = 0;
  milliseconds retry_after{0};
  std::error_code error;
  bool unanswered = false;  // written, but no reply came: it may still run in Redis
};

class RedisLeaseStore final : public LeaseStore {
public:
  RedisLeaseStore(Executor executor, const core::RedisConfig& config, std::string instance_id,
                  redis::ClientObserver* observer)
      : executor_(executor),
        prefix_(config.key_prefix),
        events_(events_channel(prefix_)),
        state_ttl_text_(milliseconds_text(state_ttl)),
        client_(executor, client_options(config, instance_id, "baton", observer)),
        subscriber_(executor, client_options(config, instance_id, "baton-sub")) {
    client_.start();
    subscriber_.start();
  }

  ~RedisLeaseStore() override {
    subscriber_.stop();
    client_.stop();
  }

  Awaitable<AcquireResult> acquire(LeaseRequest request) override {
    const auto started = Clock::now();
    const auto deadline = started + request.wait;
    const SessionKeys keys(prefix_, request.session);
    const std::string token = make_lease_token();
    auto finish = [&](AcquireResult result) {
      result.waited = std::chrono::duration_cast<core::Duration>(Clock::now() - started);
      return result;
    };

    // The first attempt already takes a place in line, so the order of arrival holds.
    Attempt attempt = co_await try_acquire(request, keys, token, request.wait);
    if (attempt.unanswered) undo_unanswered(keys, token, request.session);
    if (attempt.outcome != Attempt::Outcome::waiting || request.wait.count() == 0) {
      co_return finish(result_of(std::move(attempt)));
    }

    // Subscribed before the next attempt: a release after that attempt wakes us, and one
    // before it is seen by the attempt itself.
    auto subscribed = co_await subscriber_.watch(keys.channel);
    std::shared_ptr<redis::Subscriber::Watch> watch = subscribed.watch;
    for (;;) {
      if (Clock::now() >= deadline) break;
      // Rounded up, so that Redis never ends the wait before the caller does.
      const auto remaining = std::chrono::ceil<core::Duration>(deadline - Clock::now());
      attempt = co_await try_acquire(request, keys, token, remaining);
      if (attempt.error) undo_unanswered(keys, token, request.session);  // in line since the first attempt
      if (attempt.outcome != Attempt::Outcome::waiting) {
        AcquireResult result = result_of(std::move(attempt));
        result.after_waiting = result.status == AcquireStatus::acquired;
        co_return finish(std::move(result));
      }
      // Pub/sub is at most once: without a message, look again when the holder's TTL
      // (or the first waiter's wait) runs out.
      const auto wake_at = std::min(deadline, Clock::now() + attempt.retry_after + milliseconds(1));
      co_await wait_for_release(watch, keys.channel, wake_at);
    }
    co_await leave(keys, token, request.session);
    attempt.outcome = Attempt::Outcome::waiting;
    co_return finish(result_of(std::move(attempt)));
  }

  Awaitable<RenewStatus> renew(Lease lease, core::Duration ttl) override {
    const SessionKeys keys(prefix_, lease.session);
    const std::string ttl_text = milliseconds_text(ttl);
    const std::array<std::string_view, 1> script_keys{keys.lease};
    const std::array<std::string_view, 2> args{lease.token, ttl_text};
    auto result = co_await client_.eval(lease_scripts().renew, script_keys, args);
    if (result.error) co_return RenewStatus::backend_down;
    co_return result.reply.integer == 1 ? RenewStatus::renewed : RenewStatus::lost;
  }

  Awaitable<ReleaseStatus> release(Lease lease) override {
    const SessionKeys keys(prefix_, lease.session);
    const auto call = release_call(keys, lease.token, lease.session);
    auto result = co_await client_.eval(call.script, call.keys, call.args);
    if (result.error) co_return ReleaseStatus::backend_down;
    co_return result.reply.integer == 1 ? ReleaseStatus::released : ReleaseStatus::not_held;
  }

  Awaitable<std::optional<LeaseInfo>> inspect(std::string session) override {
    const SessionKeys keys(prefix_, session);
    auto result = co_await client_.eval(lease_scripts().inspect, strings(keys.lease, keys.queue), strings());
    if (result.error || result.reply.elements.empty()) co_return std::nullopt;
    co_return lease_info(std::move(session), result.reply);
  }

  Awaitable<LeasePage> list(std::string cursor, std::size_t limit) override {
    // Built before the co_await: g++ 12 relocates a conditional's temporary string
    // inside a co_await expression bit by bit.
    auto args = strings(cursor.empty() ? std::string("0") : cursor,
                        std::to_string(std::max<std::size_t>(limit, 1)), prefix_);
    auto result = co_await client_.eval(lease_scripts().list, strings(), std::move(args));
    LeasePage page;
    if (result.error || result.reply.elements.empty()) co_return page;
    const auto& elements = result.reply.elements;
    page.next_cursor = elements[0].text == "0" ? std::string() : elements[0].text;
    for (std::size_t i = 1; i < elements.size(); ++i) {
      page.leases.push_back(lease_info(text_at(elements[i], 0), elements[i], 1));
    }
    co_return page;
  }

  Awaitable<std::optional<LeaseInfo>> force_release(std::string session) override {
    const SessionKeys keys(prefix_, session);
    auto result = co_await client_.eval(lease_scripts().force_release,
                                        strings(keys.lease, keys.state, keys.queue),
                                        strings(keys.channel, state_ttl_text_, events_, session));
    if (result.error || result.reply.elements.empty()) co_return std::nullopt;
    co_return lease_info(std::move(session), result.reply);
  }

  Awaitable<LeaseChangesPtr> watch_changes() override {
    auto subscribed = co_await subscriber_.watch(events_);
    LeaseChangesPtr changes =
        std::make_unique<RedisLeaseChanges>(executor_, subscriber_, events_, std::move(subscribed.watch));
    co_return changes;
  }

private:
  static redis::ClientOptions client_options(const core::RedisConfig& config,
                                             const std::string& instance_id,
                                             std::string_view role,
                                             redis::ClientObserver* observer = nullptr) {
    redis::ClientOptions options;
    options.observer = observer;
    options.url = config.url;
    options.connect_timeout = config.connect_timeout;
    options.command_timeout = config.command_timeout;
    options.name = std::string(role) + ":" + instance_id;
    return options;
  }

  Awaitable<Attempt> try_acquire(const LeaseRequest& request, const SessionKeys& keys,
                                 const std::string& token, core::Duration wait) {
    const std::string ttl_text = milliseconds_text(request.ttl);
    const std::string wait_text = milliseconds_text(wait);
    const std::string max_waiters_text = std::to_string(request.max_waiters);
    const std::array<std::string_view, 4> script_keys{keys.lease, keys.state, keys.queue, keys.waits};
    const std::array<std::string_view, 10> args{token, request.instance, request.request_id, request.route,
                                                ttl_text, wait_text, max_waiters_text, state_ttl_text_,
                                                events_, request.session};
    auto result = co_await client_.eval(lease_scripts().acquire, script_keys, args);
    Attempt attempt;
    if (result.error) {
      attempt.error = result.error;
      attempt.unanswered = result.written && (result.error == redis::Error::timeout ||
                                              result.error == redis::Error::unreachable);
      co_return attempt;
    }
    const auto& reply = result.reply;
    switch (integer_at(reply, 0)) {
      case 1:
        attempt.outcome = Attempt::Outcome::acquired;
        attempt.lease.session = request.session;
        attempt.lease.token = token;
        attempt.lease.fence = static_cast<std::uint64_t>(integer_at(reply, 1));
        attempt.lease.previous_instance = text_at(reply, 2);
        attempt.lease.previous_release_age = milliseconds(integer_at(reply, 3));
        attempt.lease.ttl = request.ttl;
        break;
      case 0:
        attempt.outcome = Attempt::Outcome::waiting;
        break;
      default:
        attempt.outcome = Attempt::Outcome::full;
        break;
    }
    if (attempt.outcome != Attempt::Outcome::acquired) {
      attempt.holder = {text_at(reply, 1), text_at(reply, 2), milliseconds(integer_at(reply, 3))};
      attempt.retry_after = milliseconds(std::max<long long>(integer_at(reply, 3), 1));
      attempt.position = static_cast<std::size_t>(integer_at(reply, 4));
    }
    co_return attempt;
  }

  static AcquireResult result_of(Attempt attempt) {
    AcquireResult result;
    switch (attempt.outcome) {
      case Attempt::Outcome::acquired: result.status = AcquireStatus::acquired; break;
      case Attempt::Outcome::waiting: result.status = AcquireStatus::busy; break;
      case Attempt::Outcome::full: result.status = AcquireStatus::too_many_waiters; break;
      case Attempt::Outcome::failed: result.status = AcquireStatus::backend_down; break;
    }
    result.lease = std::move(attempt.lease);
    result.holder = std::move(attempt.holder);
    result.position = attempt.position;
    result.error = attempt.error;
    return result;
  }

  // Returns on a release message, at `wake_at`, or when the subscription is lost (then
  // it subscribes again, or sleeps until `wake_at` if that fails too).
  Awaitable<void> wait_for_release(std::shared_ptr<redis::Subscriber::Watch>& watch,
                                   const std::string& channel, Clock::time_point wake_at) {
    if (watch) {
      if (co_await watch->wait_until(wake_at) || Clock::now() >= wake_at) co_return;
      watch.reset();  // the subscription was lost: a message may have been missed
      auto again = co_await subscriber_.watch(channel);
      if (!again.error) {
        watch = std::move(again.watch);
        co_return;  // look again at once: the release may have happened meanwhile
      }
    }
    SteadyTimer timer(executor_, wake_at);
    beast::error_code ignored;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ignored));
  }

  // An acquire that got no answer (Redis frozen, the link stalled or lost) may still run
  // in Redis, for a caller that has already gone on: it would hold the lease, or the head
  // of the line, for nobody until its TTL or its wait ran out. Releasing and leaving under
  // its token undoes either, and does nothing otherwise. On the same connection Redis runs
  // them after the acquire; while disconnected they wait for the next connection.
  void undo_unanswered(const SessionKeys& keys, const std::string& token, const std::string& session) {
    const auto release = release_call(keys, token, session);
    const auto leave = leave_call(keys, token, session);
    std::vector<std::vector<std::string>> undo;
    undo.push_back(redis::eval_command(release.script, release.keys, release.args));
    undo.push_back(redis::eval_command(leave.script, leave.keys, leave.args));
    client_.post(std::move(undo));
  }

  Awaitable<void> leave(const SessionKeys& keys, const std::string& token, const std::string& session) {
    const auto call = leave_call(keys, token, session);
    co_await client_.eval(call.script, call.keys, call.args);
  }

  // A script with its keys and arguments, as views of the caller's strings and the
  // store's: each call below is written down once, for eval() and for post().
  template <std::size_t KeyCount, std::size_t ArgCount>
  struct ScriptCall {
    const redis::Script& script;
    std::array<std::string_view, KeyCount> keys;
    std::array<std::string_view, ArgCount> args;
  };

  ScriptCall<3, 5> release_call(const SessionKeys& keys, std::string_view token, std::string_view session) const {
    return {lease_scripts().release, {keys.lease, keys.state, keys.queue},
            {token, keys.channel, state_ttl_text_, events_, session}};
  }

  ScriptCall<3, 4> leave_call(const SessionKeys& keys, std::string_view token, std::string_view session) const {
    return {lease_scripts().leave, {keys.lease, keys.queue, keys.waits}, {token, keys.channel, events_, session}};
  }

  Executor executor_;
  std::string prefix_;
  std::string events_;  // the events channel
  std::string state_ttl_text_;
  redis::Client client_;
  redis::Subscriber subscriber_;
};

}  // namespace

LeaseStorePtr make_redis_lease_store(Executor executor, const core::RedisConfig& config,
                                     std::string instance_id, redis::ClientObserver* observer) {
  return std::make_unique<RedisLeaseStore>(executor, config, std::move(instance_id), observer);
}

}  // namespace baton::lease
