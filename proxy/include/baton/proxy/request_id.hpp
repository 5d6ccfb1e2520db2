// Request ids for X-Request-Id: 128 random bits as 32 lower-case hex characters, or
// the client's own id when it is valid (at most 128 characters).
#pragma once

#include <boost/beast/core/static_string.hpp>

#include <cstdint>

namespace baton::proxy {

// Held inline: no request allocates for its id.
using RequestId = boost::beast::static_string<128>;

// One per worker thread: no locking, no system call per id.
class RequestIdGenerator {
public:
  RequestIdGenerator();
  RequestId next();

private:
  std::uint64_t next_word();
  std::uint64_t state_;
};

}  // namespace baton::proxy
