// Reading a client's request head, without the I/O: the parser baton uses, and the
// steps between reads that look at the raw bytes Beast's parser does not report on.
// ClientConnection drives it with its socket; the request_head fuzz target with pieces
// of its input.
#pragma once

#include "baton/core/asio.hpp"

#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace baton::proxy {

// Beast 1.74's parser, except for a field (in a head or a trailer) of 64 KiB or more:
// Beast cannot store it and throws, from inside a read's completion, which would end
// the worker thread. Here it is the header_limit error. (A private virtual of Beast's
// parser, overridden with the same one line plus the catch.)
template <bool isRequest>
class BoundedParser final : public http::parser<isRequest, http::buffer_body> {
private:
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code& error) override {
    try {
      this->get().insert(name, name_string, value);
    } catch (const std::length_error&) {
      error = http::error::header_limit;
    }
  }
};

using RequestParser = BoundedParser<true>;

// What reading a request head found besides the parser's verdict: what Beast's
// parser sees in the raw bytes but does not tell.
struct HeadRead {
  beast::error_code error;
  bool folded = false;            // an obs-fold line (RFC 9112 5.2)
  bool line_too_long = false;     // header_limit struck inside the request line: 414, not 431
  bool version_refused = false;   // a well-formed version other than HTTP/1.x: 505, not 400
};

// One request head, read as http::async_read_header would, with the head's size held to
// `header_limit` as a whole (Beast limits the line and the fields separately), obs-folds
// noted, and later HTTP/1 minor versions served as HTTP/1.1 (RFC 9110 2.5).
class RequestHeadReader {
public:
  explicit RequestHeadReader(std::uint32_t header_limit) : limit_(header_limit) {}

  // Hands what `buffer` holds to `parser` and consumes what it took. need_more: read
  // more into `buffer` and call again.
  beast::error_code parse(RequestParser& parser, beast::flat_buffer& buffer);

  // The outcome, once parse returned anything but need_more (passed as `error`) or a
  // read failed (its error; end of stream as net::error::eof).
  HeadRead finish(beast::error_code error, const RequestParser& parser, const beast::flat_buffer& buffer) const;

private:
  std::uint32_t limit_;
  std::uint32_t consumed_ = 0;  // bytes of the head the parser took so far
  bool folded_ = false;
};

}  // namespace baton::proxy
