#include "baton/proxy/body_relay.hpp"

#include <boost/container/static_vector.hpp>

#include <charconv>

namespace baton::proxy {

template <bool isRequest>
Awaitable<BodyPiece> read_body_piece(core::TimedSocket& stream, beast::flat_buffer& input,
                                     http::parser<isRequest, http::buffer_body>& parser,
                                     std::span<char> buffer, core::Duration timeout) {
  auto& body = parser.get().body();
  body.data = buffer.data();
  body.size = buffer.size();
  BodyPiece piece;
  stream.expires_after(timeout);
  co_await http::async_read_some(stream, input, parser,
                                 net::redirect_error(use_awaitable, piece.error));
  piece.error = stream.outcome(piece.error);
  if (piece.error == http::error::need_buffer) piece.error = {};
  piece.data = std::string_view(buffer.data(), buffer.size() - body.size);
  body = {};
  co_return piece;
}

template Awaitable<BodyPiece> read_body_piece<true>(core::TimedSocket&, beast::flat_buffer&,
                                                    http::parser<true, http::buffer_body>&,
                                                    std::span<char>, core::Duration);
template Awaitable<BodyPiece> read_body_piece<false>(core::TimedSocket&, beast::flat_buffer&,
                                                     http::parser<false, http::buffer_body>&,
                                                     std::span<char>, core::Duration);

Awaitable<beast::error_code> write_piece(core::TimedSocket& stream, std::string_view head,
                                         std::string_view piece, bool chunked, bool last,
                                         core::Duration timeout) {
  static constexpr std::string_view crlf = "\r\n";
  static constexpr std::string_view last_chunk = "0\r\n\r\n";
  boost::container::static_vector<net::const_buffer, 5> buffers;
  char size_line[24];
  if (!head.empty()) buffers.push_back(net::buffer(head));
  if (!piece.empty()) {
    if (chunked) {
      auto end = std::to_chars(size_line, size_line + 16, piece.size(), 16).ptr;
      *end++ = '\r';
      *end++ = '\n';
      buffers.push_back(net::buffer(size_line, static_cast<std::size_t>(end - size_line)));
    }
    buffers.push_back(net::buffer(piece));
    if (chunked) buffers.push_back(net::buffer(crlf));
  }
  if (chunked && last) buffers.push_back(net::buffer(last_chunk));
  beast::error_code error;
  if (buffers.empty()) co_return error;
  stream.expires_after(timeout);
  co_await net::async_write(stream, buffers, net::redirect_error(use_awaitable, error));
  co_return stream.outcome(error);
}

}  // namespace baton::proxy
