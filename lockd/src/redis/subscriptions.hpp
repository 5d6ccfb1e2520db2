// The Subscriber's bookkeeping: which channels have watchers, and whether Redis has
// answered every SUBSCRIBE and UNSUBSCRIBE sent for them. Redis confirms each channel
// of each command once, in order, so a channel is known to be subscribed when its
// last command was a SUBSCRIBE and no confirmation is outstanding.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace baton::redis {

template <class Watcher>
class Subscriptions {
public:
  // `watcher` joins `channel`; true when a SUBSCRIBE for it must be sent now.
  bool join(const std::string& channel, Watcher* watcher) {
    Channel& entry = channels_[channel];
    entry.watchers.push_back(watcher);
    if (!connected_ || entry.watchers.size() > 1) return false;
    // New, or an UNSUBSCRIBE still in flight: (re)subscribe.
    ++entry.unconfirmed;
    ++unconfirmed_;
    entry.active = false;
    return true;
  }

  // `watcher` leaves `channel`; true when it was the last and an UNSUBSCRIBE must be sent.
  bool leave(const std::string& channel, Watcher* watcher) {
    const auto found = channels_.find(channel);
    if (found == channels_.end()) return false;
    Channel& entry = found->second;
    std::erase(entry.watchers, watcher);
    if (!entry.watchers.empty()) return false;
    if (!connected_) {
      channels_.erase(found);
      return false;
    }
    ++entry.unconfirmed;
    ++unconfirmed_;
    entry.active = false;
    return true;
  }

  // Redis confirmed one SUBSCRIBE or UNSUBSCRIBE of `channel`. True when that was the
  // last outstanding one and the channel has watchers: they can be told it is live.
  bool confirm(const std::string& channel) {
    const auto found = channels_.find(channel);
    if (found == channels_.end() || found->second.unconfirmed == 0) return false;
    Channel& entry = found->second;
    --entry.unconfirmed;
    --unconfirmed_;
    if (entry.unconfirmed > 0) return false;
    if (entry.watchers.empty()) {
      channels_.erase(found);
      return false;
    }
    entry.active = true;
    return true;
  }

  // Subscribed, with every command for it answered.
  bool active(const std::string& channel) const {
    const auto found = channels_.find(channel);
    return found != channels_.end() && found->second.active;
  }

  // The watchers of `channel` (empty when none).
  const std::vector<Watcher*>& watchers(const std::string& channel) const {
    static const std::vector<Watcher*> none;
    const auto found = channels_.find(channel);
    return found == channels_.end() ? none : found->second.watchers;
  }

  // Calls `f(watcher)` for every watcher of every channel.
  template <class F>
  void for_each_watcher(F&& f) const {
    for (const auto& [name, entry] : channels_)
      for (Watcher* watcher : entry.watchers) f(*watcher);
  }

  // The connection is gone, and with it every subscription.
  void disconnected() {
    connected_ = false;
    unconfirmed_ = 0;
    std::erase_if(channels_, [](const auto& item) { return item.second.watchers.empty(); });
    for (auto& [name, entry] : channels_) {
      entry.unconfirmed = 0;
      entry.active = false;
    }
  }

  // A new connection is up: the channels that still have watchers, to SUBSCRIBE again.
  std::vector<std::string> connected() {
    connected_ = true;
    std::vector<std::string> names;
    for (auto& [name, entry] : channels_) {
      names.push_back(name);
      entry.unconfirmed = 1;
    }
    unconfirmed_ = names.size();
    return names;
  }

  // Confirmations still due on this connection, over all channels.
  std::size_t unconfirmed() const { return unconfirmed_; }
  std::size_t channel_count() const { return channels_.size(); }

private:
  struct Channel {
    std::vector<Watcher*> watchers;
    std::size_t unconfirmed = 0;  // SUBSCRIBE / UNSUBSCRIBE sent, not yet confirmed
    bool active = false;
  };

  std::unordered_map<std::string, Channel> channels_;
  std::size_t unconfirmed_ = 0;
  bool connected_ = false;
};

}  // namespace baton::redis
