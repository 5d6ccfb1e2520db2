// The answer baton gives when it, not the engine, ends a request: a status code and a
// small JSON body {"error", "message", "request_id"} that clients and logs can match on.
#pragma once

#include "baton/core/asio.hpp"

#include <optional>
#include <string_view>

namespace baton::proxy {

struct ErrorReply {
  http::status status;
  std::string_view code;     // stable, machine-readable: "upstream_timeout"
  std::string_view message;  // for humans
  unsigned retry_after = 0;  // seconds, sent as Retry-After when not 0
  // A busy session: how long the request waited, and its place in line when it gave up.
  std::optional<long long> waited_ms;
  std::optional<long long> position;
};

// The client connection is closed after the reply unless `keep_alive`.
http::response<http::string_body> make_error_response(const ErrorReply& reply,
                                                      std::string_view request_id,
                                                      bool keep_alive = false);

}  // namespace baton::proxy
