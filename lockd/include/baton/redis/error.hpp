// Errors of the Redis client, as std::error_code (Beast's http/error.hpp pattern).
#pragma once

#include <system_error>

namespace baton::redis {

enum class Error {
  unreachable = 1,  // not connected, or the connection failed: the caller may fail open or closed
  timeout,          // no reply within the command timeout
  script,           // a Lua script raised an error (the error reply is kept in the Result)
  protocol,         // bytes from the server that are not RESP
  auth,             // AUTH or SELECT was refused: no connection until the credentials work
  server,           // any other error reply (the reply is kept in the Result)
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(Error error) noexcept {
  return {static_cast<int>(error), error_category()};
}

}  // namespace baton::redis

template <>
struct std::is_error_code_enum<baton::redis::Error> : std::true_type {};
