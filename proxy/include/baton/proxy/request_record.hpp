// What one request did, filled in as it goes (client connection, exchange, session lease)
// and read once at its end by the access log and the metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::proxy {

// What became of the request's lease when it was asked for.
enum class LeaseDecision {
  none,              // never decided: the request was refused or failed before (400, 413, ...)
  acquired,          // at the first attempt
  waited,            // after waiting in line
  busy,              // still held when lease.wait_timeout ran out (409)
  too_many_waiters,  // the session's line was full (429)
  bypassed,          // the route takes no lease, or an optional one and the request had no id
  fail_open,         // the lease store was down; forwarded without a lease (on_backend_down)
  backend_down,      // the lease store was down; refused (503)
};

// How a held lease ended.
enum class LeaseEnding {
  none,         // no lease was held
  done,         // the event stream's "done" event was relayed
  end,          // the engine's response was complete (or it switched protocols)
  client_gone,  // the client left; released when the engine had finished
  error,        // the exchange failed while holding it (engine error, cut stream)
  lost,         // a renewal found it expired or forced away
  max_hold,     // held for lease.max_hold: the watchdog ended it
};

std::string_view to_string(LeaseDecision decision) noexcept;
std::string_view to_string(LeaseEnding ending) noexcept;

struct RequestRecord {
  using Clock = std::chrono::steady_clock;

  // When the first byte of the request head was there.
  std::chrono::system_clock::time_point start_time;
  Clock::time_point started;

  // Views into the request, its rules and its id: valid until the request ends.
  std::string_view request_id;
  std::string_view route;   // the route's configured name; empty when none matched
  std::string_view method;  // empty when the head could not be read
  std::string_view path;    // without the query
  std::string session;      // empty when there is none (or it was not valid)

  unsigned status = 0;  // sent to the client; 499 when it left before any answer
  LeaseDecision lease = LeaseDecision::none;
  std::chrono::nanoseconds wait{0};  // in the lease store, whatever the decision
  std::uint64_t fence = 0;           // 0 without a lease
  bool migrated = false;             // the session last ran on another instance
  LeaseEnding lease_end = LeaseEnding::none;

  std::optional<std::chrono::nanoseconds> upstream;  // until the engine's response head
  std::chrono::nanoseconds duration{0};
  std::uint64_t bytes_in = 0;   // body bytes from the client (and tunnelled bytes)
  std::uint64_t bytes_out = 0;  // body bytes to the client (and tunnelled bytes)
  std::uint64_t sse_events = 0;
};

}  // namespace baton::proxy
