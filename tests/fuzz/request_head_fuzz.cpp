// Fuzz target: reading a head and writing the one baton forwards
// (proxy/include/baton/proxy/headers.hpp, with Beast's parser as the proxy sets it up).
//
// Input: byte 0 chooses the direction (top bit: a client's request, or an engine's
// response to a GET or HEAD), the header limit, and the lease headers or the response's
// relay options; byte 1 seeds where the
// bytes are cut, as a socket would hand them over; the rest is the raw head (and maybe
// more). The request side follows client_connection.cpp and exchange.cpp step by step:
// the proxy's RequestParser and RequestHeadReader (the read loop with its whole-head
// limit, obs-fold check and HTTP/1.x rewrite), check_request_head, the Content-Length
// limit, and write_upstream_request_head. The response side follows read_response_head
// and relay_response up to write_client_response_head.
//
// Invariants, for every head baton accepts:
// - the head it writes is well formed: CRLF line ends only, no other CR, LF or control
//   byte, a start line and "name: value" lines, one empty line at the end; so nothing the
//   peer sent can inject a line;
// - it parses back, with the same method and target (or status), as HTTP/1.1;
// - its framing is the one baton relays the body with: chunked exactly when baton
//   re-chunks, else the same Content-Length, so the next hop cannot read the body
//   differently from baton (no request smuggling);
// - the Host is the client's; the hop-by-hop fields (the fixed ones, Proxy-*, and those
//   the Connection fields name) and Expect are gone; Baton-* fields are baton's only;
//   one X-Request-Id, one X-Forwarded-For ending with the client's address;
// - a request with a Transfer-Encoding is relayed chunked (check_request_head let it
//   through, so Beast must have seen chunked framing).
#include "baton/proxy/headers.hpp"
#include "baton/proxy/request_head.hpp"

#include "fuzz_check.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace baton::proxy;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using ResponseParser = BoundedParser<false>;  // as exchange.hpp has it

constexpr std::string_view client_address = "198.51.100.7";
constexpr std::string_view generated_request_id = "generated-request-id";
constexpr std::size_t max_body_size = 16 * 1024 * 1024;  // client.max_body_size default
constexpr std::array<std::uint32_t, 4> header_limits{32 * 1024, 8 * 1024, 512, 64};

// Hands the stream to a parser in pieces, as read_head does with what the socket gives.
class Feeder {
public:
  Feeder(std::string_view bytes, std::uint8_t seed) : rest_(bytes), cuts_(seed) {}

  // False at the end of the input (EOF).
  bool read_into(beast::flat_buffer& buffer) {
    if (rest_.empty()) return false;
    std::size_t length = 0;
    while (length == 0) length = cuts_.piece_length(rest_.size());  // a socket never reads 0
    const auto piece = rest_.substr(0, length);
    rest_.remove_prefix(length);
    const auto space = buffer.prepare(piece.size());
    std::memcpy(space.data(), piece.data(), piece.size());
    buffer.commit(piece.size());
    return true;
  }

private:
  std::string_view rest_;
  baton::fuzz::Cuts cuts_;
};

// ---- Well-formedness of a written head ------------------------------------------------

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Splits `head` into lines, checking that CR and LF appear only as CRLF line ends and
// that no other control byte (HTAB aside) is there.
std::vector<std::string_view> lines_of(std::string_view head) {
  FUZZ_CHECK(head.ends_with("\r\n\r\n"));
  FUZZ_CHECK(head.find("\r\n\r\n") == head.size() - 4);
  std::vector<std::string_view> lines;
  std::string_view rest = head.substr(0, head.size() - 2);  // the empty line
  while (!rest.empty()) {
    const auto end = rest.find("\r\n");
    FUZZ_CHECK(end != std::string_view::npos);
    const auto line = rest.substr(0, end);
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      FUZZ_CHECK(byte >= 0x20 || c == '\t');
      FUZZ_CHECK(byte != 0x7f);
    }
    lines.push_back(line);
    rest.remove_prefix(end + 2);
  }
  FUZZ_CHECK(!lines.empty());
  return lines;
}

void check_field_lines(const std::vector<std::string_view>& lines) {
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto line = lines[i];
    const auto colon = line.find(':');
    FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
    for (const char c : line.substr(0, colon)) FUZZ_CHECK(is_tchar(c));
    FUZZ_CHECK(line.substr(colon, 2) == ": " || line.size() == colon + 1);
  }
}

// The Connection tokens of a parsed head.
std::vector<std::string> connection_tokens(const http::fields& fields) {
  std::vector<std::string> tokens;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    for (const auto token : http::token_list{field.value()}) tokens.emplace_back(token);
  }
  return tokens;
}

bool named_by(const std::vector<std::string>& tokens, std::string_view name) {
  for (const auto& token : tokens) {
    if (beast::iequals(token, name)) return true;
  }
  return false;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && beast::iequals(text.substr(0, prefix.size()), prefix);
}

std::size_t count_of(const http::fields& fields, std::string_view name) {
  std::size_t count = 0;
  for (const auto& field : fields) count += beast::iequals(field.name_string(), name) ? 1 : 0;
  return count;
}

// Parses written head bytes back, whole, as the next hop would.
template <class Parser>
void parse_back(Parser& parser, std::string_view head) {
  parser.header_limit(std::numeric_limits<std::uint32_t>::max());
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // the next hop's limits are its own
  parser.eager(false);
  beast::error_code error;
  const auto used = parser.put(boost::asio::buffer(head.data(), head.size()), error);
  if (error) std::fprintf(stderr, "written head does not parse: %s\n%.*s", error.message().c_str(),
                          static_cast<int>(head.size()), head.data());
  FUZZ_CHECK(!error);
  FUZZ_CHECK(parser.is_header_done());
  FUZZ_CHECK(used == head.size());
}

// ---- The request side ----------------------------------------------------------------

// What client_connection.cpp's read_head and refusal_of decide, with the same
// RequestHeadReader: true when the request would be forwarded.
bool read_request_head(RequestParser& parser, std::uint32_t header_limit, Feeder& feeder) {
  beast::flat_buffer buffer;
  RequestHeadReader reader(header_limit);
  beast::error_code error;
  while ((error = reader.parse(parser, buffer)) == http::error::need_more) {
    if (!feeder.read_into(buffer)) {
      error = boost::asio::error::eof;
      break;
    }
  }
  const HeadRead head = reader.finish(error, parser, buffer);
  if (head.error || head.folded) return false;
  FUZZ_CHECK(parser.is_header_done());
  if (check_request_head(parser.get()) != HeadFault::none) return false;
  // exchange.cpp: a declared body over the limit gets 413.
  if (const auto length = parser.content_length(); length && *length > max_body_size) return false;
  return true;
}

// Hop-by-hop fields never go on, nor `one_more`, which stops here in this direction.
void check_stops_here(std::string_view name, std::string_view one_more) {
  FUZZ_CHECK(!beast::iequals(name, "Keep-Alive") && !beast::iequals(name, "TE") && !beast::iequals(name, "Trailer") &&
             !beast::iequals(name, one_more));
  FUZZ_CHECK(!starts_with_ci(name, "Proxy-"));
}

// headers.cpp lets no Connection field strip these, either way.
bool frames_or_names_host(std::string_view name) {
  return beast::iequals(name, "Content-Length") || beast::iequals(name, "Host");
}

void check_forwarded_request(const RequestParser& parser, const UpstreamRequestInfo& info, std::string_view head) {
  const RequestHeader& request = parser.get();
  const auto lines = lines_of(head);
  check_field_lines(lines);

  RequestParser back;
  parse_back(back, head);
  const RequestHeader& sent = back.get();
  FUZZ_CHECK(sent.method_string() == request.method_string());
  FUZZ_CHECK(sent.target() == request.target());
  FUZZ_CHECK(sent.version() == 11);

  // Framing: the body goes out as baton relays it.
  FUZZ_CHECK(back.chunked() == info.chunked_body);
  FUZZ_CHECK(info.chunked_body == parser.chunked());
  if (!info.chunked_body) FUZZ_CHECK(back.content_length() == parser.content_length());
  if (request.find(http::field::transfer_encoding) != request.end()) FUZZ_CHECK(parser.chunked());

  // Host: the client's, once.
  const auto host = request.find(http::field::host);
  if (host != request.end()) {
    FUZZ_CHECK(count_of(sent, "Host") == 1);
    FUZZ_CHECK(sent[http::field::host] == host->value());
  }

  // What stops here, and what only baton says.
  const auto tokens = connection_tokens(request);
  for (const auto& field : sent) {
    const auto name = field.name_string();
    check_stops_here(name, "Expect");
    if (beast::iequals(name, "Connection")) FUZZ_CHECK(info.tunnel && field.value() == "upgrade");
    if (beast::iequals(name, "Upgrade")) FUZZ_CHECK(info.tunnel);
    if (beast::iequals(name, "Transfer-Encoding")) FUZZ_CHECK(info.chunked_body && field.value() == "chunked");
    if (starts_with_ci(name, "Baton-")) {
      FUZZ_CHECK((beast::iequals(name, "Baton-Fence") && info.lease.fence != 0) ||
                 (beast::iequals(name, "Baton-Session-Migrated") && info.lease.migrated));
    }
    // A field the client's Connection names is the client's hop-by-hop field, unless
    // baton sets it itself (or keeps it for a tunnel), or it frames the message or names
    // the host.
    const bool set_by_baton = (info.tunnel && beast::iequals(name, "Upgrade")) ||
        beast::iequals(name, "X-Request-Id") || starts_with_ci(name, "X-Forwarded-") ||
        (info.lease.cache_bypass && (beast::iequals(name, "Cache-Control") || beast::iequals(name, "Pragma"))) ||
        (info.lease.identity_encoding && beast::iequals(name, "Accept-Encoding")) || starts_with_ci(name, "Baton-") ||
        beast::iequals(name, "Connection") || beast::iequals(name, "Transfer-Encoding");
    if (!set_by_baton && !frames_or_names_host(name)) FUZZ_CHECK(!named_by(tokens, name));
  }
  FUZZ_CHECK(count_of(sent, "Baton-Fence") == (info.lease.fence != 0 ? 1u : 0u));
  FUZZ_CHECK(count_of(sent, "X-Request-Id") == 1);
  FUZZ_CHECK(sent["X-Request-Id"] == info.request_id);
  FUZZ_CHECK(count_of(sent, "X-Forwarded-For") == 1);
  FUZZ_CHECK(sent["X-Forwarded-For"].ends_with(client_address));
}

void forward_request(std::uint8_t control, std::uint8_t seed, std::string_view bytes) {
  RequestParser parser;
  parser.body_limit(max_body_size);
  Feeder feeder(bytes, seed);
  if (!read_request_head(parser, header_limits[(control >> 1) & 3], feeder)) return;

  const RequestHeader& request = parser.get();
  const auto client_id = request["X-Request-Id"];
  UpstreamRequestInfo info;
  info.client_address = client_address;
  info.request_id = is_valid_request_id(client_id) ? client_id : generated_request_id;
  info.chunked_body = parser.chunked();
  info.tunnel = is_websocket_upgrade(request);
  info.lease.cache_bypass = control & 0x08;
  info.lease.fence = control & 0x10 ? 1'700'000'000'000'000u : 0;
  info.lease.migrated = control & 0x20;
  info.lease.identity_encoding = control & 0x40;
  std::string head;
  write_upstream_request_head(request, info, head);
  check_forwarded_request(parser, info, head);
}

// ---- The response side ---------------------------------------------------------------

void check_relayed_response(const ResponseParser& parser, const ClientResponseInfo& info, bool has_body,
                            std::string_view head) {
  const ResponseHeader& response = parser.get();
  const auto lines = lines_of(head);
  check_field_lines(lines);
  char status[4];
  std::snprintf(status, sizeof status, "%03u", response.result_int());
  FUZZ_CHECK(lines.front().substr(0, 13) == "HTTP/1.1 " + std::string(status) + " ");

  ResponseParser back;
  parse_back(back, head);
  const ResponseHeader& sent = back.get();
  FUZZ_CHECK(sent.result_int() == response.result_int());
  FUZZ_CHECK(sent.version() == 11);

  if (has_body) {
    FUZZ_CHECK(back.chunked() == info.chunked_body);
    if (!info.chunked_body) FUZZ_CHECK(back.content_length() == parser.content_length());
  }
  if (!info.keep_alive) FUZZ_CHECK(!back.keep_alive());

  const auto tokens = connection_tokens(response);
  for (const auto& field : sent) {
    const auto name = field.name_string();
    check_stops_here(name, "Upgrade");
    if (beast::iequals(name, "Transfer-Encoding")) FUZZ_CHECK(info.chunked_body && field.value() == "chunked");
    if (beast::iequals(name, "Connection")) {
      FUZZ_CHECK(field.value() == (info.keep_alive ? "keep-alive" : "close"));
      continue;
    }
    const bool set_by_baton = beast::iequals(name, "X-Request-Id") || beast::iequals(name, "X-Accel-Buffering") ||
                              (info.no_store && beast::iequals(name, "Cache-Control")) ||
                              beast::iequals(name, "Transfer-Encoding");
    if (!set_by_baton && !frames_or_names_host(name)) FUZZ_CHECK(!named_by(tokens, name));
  }
  FUZZ_CHECK(count_of(sent, "X-Request-Id") == 1);
  if (info.no_store) FUZZ_CHECK(count_of(sent, "Cache-Control") == 1 && sent[http::field::cache_control] == "no-store");
}

void relay_response(std::uint8_t control, std::uint8_t seed, std::string_view bytes) {
  const http::verb method = control & 0x02 ? http::verb::head : http::verb::get;
  const bool http10_client = control & 0x04;
  Feeder feeder(bytes, seed);
  beast::flat_buffer buffer;
  // exchange.cpp read_response_head: interim responses are dropped, up to the final one.
  std::optional<ResponseParser> parser;
  for (;;) {
    parser.emplace();
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (method == http::verb::head) parser->skip(true);
    beast::error_code error;
    for (;;) {
      if (buffer.size() > 0) {
        buffer.consume(parser->put(buffer.data(), error));
        if (error != http::error::need_more) break;
      }
      if (!feeder.read_into(buffer)) return;
    }
    if (error) return;
    const unsigned status = parser->get().result_int();
    if (status >= 200 || status == 101) break;
  }

  const ResponseHeader& response = parser->get();
  const bool has_body = response_has_body(method, response.result_int());
  const bool length_known = !has_body || parser->content_length().has_value();
  const bool chunked = !length_known && !http10_client;
  const bool keep_alive = (control & 0x08) && (length_known || chunked);
  ClientResponseInfo info{generated_request_id, chunked, keep_alive, http10_client, false};
  info.no_store = control & 0x10;
  info.no_buffering = control & 0x20;
  std::string head;
  write_client_response_head(response, info, head);
  check_relayed_response(*parser, info, has_body, head);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  baton::fuzz::Input input(data, size);
  const auto control = input.byte();
  const auto seed = input.byte();
  if (control & 0x80) {
    relay_response(control, seed, input.rest());
  } else {
    forward_request(control, seed, input.rest());
  }
  return 0;
}
