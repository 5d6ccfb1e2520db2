// Request ids for X-Request-Id: 128 random bits as 32 lower-case hex characters.
#pragma once

#include <cstdint>
#include <string>

namespace baton::proxy {

// One per worker thread: no locking, no system call per id.
class RequestIdGenerator {
public:
  RequestIdGenerator();
  std::string next();

private:
  std::uint64_t next_word();
  std::uint64_t state_;
};

}  // namespace baton::proxy
