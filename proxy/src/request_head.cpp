#include "baton/proxy/request_head.hpp"

#include "baton/proxy/headers.hpp"

namespace baton::proxy {
namespace {

std::string_view bytes_of(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// RFC 9110 2.5: a request of a later HTTP/1 minor version is served as the highest one
// this server conforms to, HTTP/1.1. Beast refuses it, so the digit in the buffered
// request line is rewritten before it is parsed again (a refused request line leaves
// Beast's parser as it was). False when the line is not one of those.
bool serve_as_http11(beast::flat_buffer& buffer) {
  const auto version = request_line_version(bytes_of(buffer));
  if (!version || version->major != 1 || version->minor < 2) return false;
  static_cast<char*>(buffer.data().data())[version->minor_at] = '1';
  return true;
}

}  // namespace

// Beast consumes the request line as soon as it is whole, then whole field lines (so a
// fold never straddles two pieces), and applies its header limit to what is left each
// time: the limit shrinks by what it consumed, to hold for the whole head.
beast::error_code RequestHeadReader::parse(RequestParser& parser, beast::flat_buffer& buffer) {
  for (;;) {
    if (buffer.size() == 0) return http::error::need_more;
    beast::error_code error;
    parser.header_limit(limit_ - consumed_);
    const std::size_t used = parser.put(buffer.data(), error);
    folded_ = folded_ || has_obs_fold(bytes_of(buffer).substr(0, used));
    consumed_ += static_cast<std::uint32_t>(used);
    buffer.consume(used);
    if (error == http::error::bad_version && consumed_ == 0 && serve_as_http11(buffer)) continue;
    if (error == http::error::need_more && consumed_ >= limit_) return http::error::header_limit;
    return error;
  }
}

HeadRead RequestHeadReader::finish(beast::error_code error, const RequestParser& parser,
                                   const beast::flat_buffer& buffer) const {
  HeadRead head;
  head.folded = folded_;
  if (error == net::error::eof) error = parser.got_some() ? http::error::partial_message : http::error::end_of_stream;
  head.error = error;
  // Beast may wait for the whole head before it parses the request line, so the line
  // is too long only if it does not end within the limit.
  head.line_too_long = error == http::error::header_limit && consumed_ == 0 &&
                       bytes_of(buffer).substr(0, limit_).find('\n') == std::string_view::npos;
  if (error == http::error::bad_version && consumed_ == 0) {
    const auto version = request_line_version(bytes_of(buffer));
    head.version_refused = version && version->major != 1;
  }
  return head;
}

}  // namespace baton::proxy
