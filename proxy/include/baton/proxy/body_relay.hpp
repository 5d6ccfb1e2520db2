// Moving body pieces from a Beast parser to a socket, with the framing the receiving
// side needs. The parser decodes the sender's framing; this re-frames each piece as it
// is read, so nothing waits for the whole body.
#pragma once

#include "baton/core/asio.hpp"
#include "baton/core/config.hpp"
#include "baton/core/timed_socket.hpp"

#include <span>
#include <string_view>

namespace baton::proxy {

struct BodyPiece {
  std::string_view data;  // inside the caller's buffer; may be empty (a chunk header alone)
  beast::error_code error;
};

// Reads what is available of a message body into `buffer`, at most its size.
template <bool isRequest>
Awaitable<BodyPiece> read_body_piece(core::TimedSocket& stream, beast::flat_buffer& input,
                                     http::parser<isRequest, http::buffer_body>& parser,
                                     std::span<char> buffer, core::Duration timeout);

// Writes `head` (may be empty), then `piece` framed as a chunk when `chunked`, then the
// last chunk when `chunked && last`, in one gathered write.
Awaitable<beast::error_code> write_piece(core::TimedSocket& stream, std::string_view head,
                                         std::string_view piece, bool chunked, bool last,
                                         core::Duration timeout);

}  // namespace baton::proxy
