#include "baton/proxy/lease_stream.hpp"

#include "baton/lease/lease_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>

namespace baton::proxy {
namespace {

using Clock = std::chrono::steady_clock;

std::string unavailable_json(const std::string& problem) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  const std::string message = "the lease store cannot be reached: " + problem;
  json.StartObject();
  json.Key("error");
  json.String("backend_down");
  json.Key("message");
  json.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  json.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// When the first listed lease ends unless renewed: a lease that ends by its TTL is no
// change the store reports, so the stream looks again then.
Clock::time_point earliest_expiry(const LeaseSnapshot& snapshot, Clock::time_point now, core::Duration slack) {
  if (snapshot.leases.empty()) return Clock::time_point::max();
  const auto first = std::min_element(snapshot.leases.begin(), snapshot.leases.end(),
                                      [](const auto& a, const auto& b) { return a.remaining < b.remaining; });
  return now + first->remaining + slack;
}

class LeaseStream final : public AdminStream {
public:
  LeaseStream(AdminBackend& backend, StreamSlots::Slot slot, bool local_only, LeaseStreamOptions options)
      : backend_(backend), slot_(std::move(slot)), local_only_(local_only), options_(options) {}

  Awaitable<void> run(AdminStreamSink& sink) override {
    // Subscribed before the first listing, so that no change after it goes unseen.
    changes_ = co_await backend_.leases().watch_changes();
    auto not_before = Clock::now();
    while (!stopped_) {
      // Changes until then are folded into the next snapshot.
      while (!stopped_ && Clock::now() < not_before) co_await changes_->wait_until(not_before);
      if (stopped_) break;

      const auto started = Clock::now();
      Clock::time_point look_again;
      std::string event;
      const std::string problem = backend_.lease_store_problem();
      if (problem.empty()) {
        const LeaseSnapshot snapshot = co_await collect();
        if (stopped_) break;
        event = sse_event("leases", lease_snapshot_json(snapshot));
        look_again = earliest_expiry(snapshot, Clock::now(), options_.expiry_slack);
      } else {
        event = sse_event("unavailable", unavailable_json(problem));
        look_again = Clock::now() + options_.unavailable_retry;
      }
      const auto listing = Clock::now() - started;
      not_before = started + std::max<Clock::duration>(options_.min_gap, listing * options_.gap_per_listing);
      if (!co_await sink.write(std::move(event))) break;
      if (!co_await wait_for_news(sink, look_again)) break;
    }
  }

  void stop() override {
    stopped_ = true;
    if (changes_) changes_->cancel();
  }

private:
  // Until a change or `look_again`, with keep-alive comments meanwhile. False when the
  // stream ends.
  Awaitable<bool> wait_for_news(AdminStreamSink& sink, Clock::time_point look_again) {
    auto keep_alive_at = Clock::now() + options_.keep_alive;
    for (;;) {
      const auto wake_at = std::min(look_again, keep_alive_at);
      const bool changed = co_await changes_->wait_until(wake_at);
      if (stopped_) co_return false;
      const auto now = Clock::now();
      if (changed || now >= look_again) co_return true;
      if (now >= keep_alive_at) {
        std::string comment = sse_comment("keep-alive");
        if (!co_await sink.write(std::move(comment))) co_return false;
        keep_alive_at = Clock::now() + options_.keep_alive;
      }
    }
  }

  // Every held lease, page after page, each once (a SCAN may repeat one), within the
  // bounds of the options.
  Awaitable<LeaseSnapshot> collect() {
    LeaseSnapshot snapshot;
    std::map<std::string, lease::LeaseInfo> by_session;
    const std::string& self = backend_.instance_id();
    std::string cursor;
    bool complete = false;
    for (std::size_t page_count = 0; page_count < options_.max_pages && !stopped_; ++page_count) {
      lease::LeasePage page = co_await backend_.leases().list(std::move(cursor), max_lease_limit);
      for (auto& info : page.leases) {
        if (local_only_ && info.instance != self) continue;
        std::string session = info.session;
        by_session.insert_or_assign(std::move(session), std::move(info));
      }
      cursor = std::move(page.next_cursor);
      complete = cursor.empty();
      if (complete || by_session.size() > options_.max_leases) break;
    }
    snapshot.truncated = !complete || by_session.size() > options_.max_leases;
    for (auto& [session, info] : by_session) {
      if (snapshot.leases.size() == options_.max_leases) break;
      snapshot.leases.push_back(std::move(info));
    }
    co_return snapshot;
  }

  AdminBackend& backend_;
  StreamSlots::Slot slot_;
  bool local_only_;
  LeaseStreamOptions options_;
  lease::LeaseChangesPtr changes_;
  bool stopped_ = false;
};

}  // namespace

std::string lease_snapshot_json(const LeaseSnapshot& snapshot) {
  std::string json = R"({"leases":[)";
  for (std::size_t i = 0; i < snapshot.leases.size(); ++i) {
    if (i > 0) json.push_back(',');
    json.append(lease::lease_info_json(snapshot.leases[i], "session"));
  }
  json.append(R"(],"truncated":)").append(snapshot.truncated ? "true" : "false").append("}");
  return json;
}

AdminStreamPtr make_lease_stream(AdminBackend& backend, StreamSlots::Slot slot, bool local_only,
                                 LeaseStreamOptions options) {
  return std::make_unique<LeaseStream>(backend, std::move(slot), local_only, options);
}

}  // namespace baton::proxy
