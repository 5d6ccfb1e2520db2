// Byte-for-byte relay between two sockets after a protocol switch (WebSocket).
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"

#include <cstdint>

namespace baton::proxy {

// Bytes a tunnel carried each way.
struct SplicedBytes {
  std::uint64_t from_a = 0;
  std::uint64_t from_b = 0;
};

// Copies a -> b and b -> a until both directions have ended, starting with the bytes
// each side's buffer already holds past the handshake. An end of stream in one
// direction is passed on as a half close; an error, or no traffic either way for
// `idle_timeout`, closes both.
Awaitable<SplicedBytes> splice(TcpSocket& a, beast::flat_buffer& from_a, TcpSocket& b,
                               beast::flat_buffer& from_b, core::Duration idle_timeout);

}  // namespace baton::proxy
