// Opens the connections of a Client or a Subscriber: the TLS context they share, the
// attempts, the backoff between them, and the log lines about them.
#pragma once

#include "backoff.hpp"
#include "link.hpp"

#include "baton/core/asio.hpp"
#include "baton/redis/client.hpp"

#include <memory>
#include <string>
#include <system_error>

namespace baton::redis {

class Connector {
public:
  // `role` names the connection in log lines ("commands", "pub/sub"). Throws when the
  // TLS files of the options cannot be loaded.
  Connector(Executor executor, const ClientOptions& options, std::string role);

  // A link that is set up; null once stopped. Attempts until one succeeds, waiting a
  // backoff before each but the very first, so that a connection that drops at once
  // cannot make the loop spin.
  Awaitable<std::shared_ptr<Link>> connect();

  // Logs why an open link went down.
  void lost(const Link& link);

  // Ends connect() at once (with null) and every later one.
  void stop();

  // Why no connection is up, for callers that fail fast: Error::auth while the server
  // refuses the credentials, Error::unreachable otherwise.
  std::error_code unavailable() const;

  // Whether an attempt has ended, in success or failure, since the connector was made.
  bool attempted() const { return attempted_; }
  // Returns when the first attempt has ended, or after connect_timeout.
  Awaitable<void> first_attempt();

private:
  void report_failure(const Link& link, std::error_code error);

  Executor executor_;
  ClientOptions options_;
  std::string role_;
  std::shared_ptr<net::ssl::context> tls_;
  Backoff backoff_;
  SteadyTimer sleep_;
  std::shared_ptr<Link> attempt_;  // the link being opened, closed by stop()
  std::error_code last_error_;
  bool attempted_ = false;
  SteadyTimer first_attempt_ended_;  // cancelled when the first attempt ends
  std::string last_logged_;  // a failure is logged once, not at every attempt
  unsigned failed_attempts_ = 0;
  bool first_attempt_ = true;
  bool stopped_ = false;
};

// Runs a background loop of the client on its executor; an exception escaping it (a
// bug) is logged rather than lost.
void spawn_loop(Executor executor, Awaitable<void> loop, std::string what);

}  // namespace baton::redis
