#include "baton/redis/client.hpp"

#include "connector.hpp"
#include "link.hpp"
#include "subscriptions.hpp"

#include <spdlog/spdlog.h>

namespace baton::redis {
namespace {

using Clock = std::chrono::steady_clock;

class WatchImpl;

// Subscriber::Impl, at namespace scope so that the watches can name it.
struct SubscriberState {
  SubscriberState(Executor executor_in, ClientOptions options_in)
      : executor(executor_in), options(std::move(options_in)), connector(executor, options, "pub/sub") {}

  static Awaitable<void> run(std::shared_ptr<SubscriberState> self);
  bool on_reply(Reply& reply);
  void send(std::vector<std::string> command);
  void leave(const std::string& channel, WatchImpl* watch);
  bool connected() const { return link && link->is_open(); }

  Executor executor;
  ClientOptions options;
  Connector connector;
  std::shared_ptr<Link> link;  // set while connected
  Subscriptions<WatchImpl> subscriptions;
  bool started = false;
  bool stopped = false;
};

// One watcher of one channel. Its flags hold what happened while nobody was waiting,
// so that a message or a lost subscription is never missed between two waits; its
// timer is both the deadline of a wait and the wake-up.
class WatchImpl final : public Subscriber::Watch {
public:
  WatchImpl(std::weak_ptr<SubscriberState> owner, std::string channel, Executor executor)
      : owner_(std::move(owner)), channel_(std::move(channel)), timer_(executor) {}

  ~WatchImpl() override {
    if (const auto owner = owner_.lock()) owner->leave(channel_, this);
  }

  Awaitable<bool> wait_until(Clock::time_point deadline) override {
    timer_.expires_at(deadline);
    while (!signalled_ && !stale_ && !interrupted_) {
      beast::error_code error;
      co_await timer_.async_wait(net::redirect_error(use_awaitable, error));
      if (!error) break;  // the deadline; a cancellation is a wake-up
    }
    const bool signalled = signalled_;
    signalled_ = false;
    if (!interrupted_) stale_ = false;  // else the next wait reports it
    interrupted_ = false;
    co_return signalled;
  }

  void interrupt() override {
    interrupted_ = true;
    timer_.cancel();
  }

  // Until Redis confirms the SUBSCRIBE: success, Error::timeout, or Error::unreachable.
  Awaitable<std::error_code> wait_confirmed(core::Duration timeout) {
    timer_.expires_after(timeout);
    while (!confirmed_ && !failed_) {
      beast::error_code error;
      co_await timer_.async_wait(net::redirect_error(use_awaitable, error));
      if (!error) break;
    }
    if (confirmed_) co_return std::error_code{};
    co_return failed_ ? Error::unreachable : Error::timeout;
  }

  void set_confirmed() { confirmed_ = true; }

  // Redis confirmed the channel's subscription: news for a watch() that waits for it;
  // for an older watch it is the end of a reconnection, during which messages may have
  // been lost, so its wait ends (false) and its owner tries again.
  void on_subscribed() {
    if (confirmed_)
      stale_ = true;
    else
      confirmed_ = true;
    timer_.cancel();
  }

  void on_message() {
    signalled_ = true;
    timer_.cancel();
  }

  void on_connection_lost() {
    if (confirmed_)
      stale_ = true;
    else
      failed_ = true;
    timer_.cancel();
  }

private:
  std::weak_ptr<SubscriberState> owner_;
  std::string channel_;
  SteadyTimer timer_;
  bool confirmed_ = false;  // Redis confirmed the subscription this watch asked for
  bool failed_ = false;     // the connection dropped before that
  bool signalled_ = false;  // a message came since the last wait
  bool stale_ = false;      // the subscription was lost (or restored) since the last wait
  bool interrupted_ = false;  // interrupt() since the last wait
};

Awaitable<void> SubscriberState::run(std::shared_ptr<SubscriberState> self) {
  for (;;) {
    const auto link = co_await self->connector.connect();
    if (!link) co_return;
    self->link = link;
    auto channels = self->subscriptions.connected();
    if (!channels.empty()) {
      channels.insert(channels.begin(), "SUBSCRIBE");
      self->send(std::move(channels));
    }
    co_await link->read([impl = self.get()](Reply& reply) { return impl->on_reply(reply); });
    self->link.reset();
    self->subscriptions.for_each_watcher([](WatchImpl& watch) { watch.on_connection_lost(); });
    self->subscriptions.disconnected();
    if (self->stopped) co_return;
    self->connector.lost(*link);
  }
}

bool SubscriberState::on_reply(Reply& reply) {
  const bool push = reply.type == Reply::Type::array && reply.elements.size() >= 3 &&
                    reply.elements[0].type == Reply::Type::string &&
                    reply.elements[1].type == Reply::Type::string;
  if (!push) {
    // An error reply (an ACL without this channel, say) names no channel; its
    // watchers time out in watch().
    if (reply.is_error()) spdlog::warn("redis pub/sub: {}", reply.text);
    return true;
  }
  const std::string& kind = reply.elements[0].text;
  const std::string& channel = reply.elements[1].text;
  if (kind == "message") {
    for (WatchImpl* watch : subscriptions.watchers(channel)) watch->on_message();
  } else if (kind == "subscribe" || kind == "unsubscribe") {
    if (subscriptions.confirm(channel))
      for (WatchImpl* watch : subscriptions.watchers(channel)) watch->on_subscribed();
    link->replies_due(subscriptions.unconfirmed() > 0);
  }
  return true;
}

void SubscriberState::send(std::vector<std::string> command) {
  if (!connected()) return;
  link->enqueue(command);
  link->flush();
  link->replies_due(true);
}

void SubscriberState::leave(const std::string& channel, WatchImpl* watch) {
  if (subscriptions.leave(channel, watch)) send({"UNSUBSCRIBE", channel});
}

}  // namespace

struct Subscriber::Impl final : SubscriberState {
  using SubscriberState::SubscriberState;
};

Subscriber::Subscriber(Executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(executor, std::move(options))) {}

Subscriber::~Subscriber() { stop(); }

void Subscriber::start() {
  if (impl_->started) return;
  impl_->started = true;
  spawn_loop(impl_->executor, Impl::run(impl_), "redis subscriber loop");
}

void Subscriber::stop() {
  impl_->stopped = true;
  impl_->connector.stop();
  if (impl_->link) impl_->link->close();
}

bool Subscriber::connected() const { return impl_->connected(); }

Awaitable<Subscriber::WatchResult> Subscriber::watch(std::string channel) {
  const auto impl = impl_;
  if (!impl->connected()) co_return WatchResult{impl->connector.unavailable(), nullptr};
  auto watch = std::make_shared<WatchImpl>(impl, channel, impl->executor);
  if (impl->subscriptions.join(channel, watch.get())) impl->send({"SUBSCRIBE", channel});
  if (impl->subscriptions.active(channel)) {
    watch->set_confirmed();
    co_return WatchResult{{}, std::move(watch)};
  }
  const auto error = co_await watch->wait_confirmed(impl->options.command_timeout);
  if (error) co_return WatchResult{error, nullptr};  // the watch leaves with its last reference
  co_return WatchResult{{}, std::move(watch)};
}

}  // namespace baton::redis
