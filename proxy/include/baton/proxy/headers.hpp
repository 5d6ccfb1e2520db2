// Header rules between the client and the engine, as pure functions: a parsed head goes
// in, the bytes of the head to send come out. Fields pass through by being copied into
// a reused buffer, never by editing the parsed message, so a request whose fields pass
// unchanged costs no allocation.
#pragma once

#include "baton/core/asio.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace baton::proxy {

using RequestHeader = http::request_header<>;
using ResponseHeader = http::response_header<>;

// What a request under a session lease tells the engine (DESIGN.md promises 2 and 3).
struct LeaseHeaders {
  bool cache_bypass = false;       // Cache-Control: no-cache and Pragma: no-cache, replacing the client's
  std::uint64_t fence = 0;         // Baton-Fence, when not 0
  bool migrated = false;           // Baton-Session-Migrated: ?1
  bool identity_encoding = false;  // Accept-Encoding: identity, replacing the client's
};

// What the engine should be told about the request besides what the client sent.
struct UpstreamRequestInfo {
  std::string_view client_address;  // the peer address of the client connection
  std::string_view request_id;      // kept or generated; see is_valid_request_id
  bool chunked_body = false;        // the body follows in chunked framing
  bool tunnel = false;              // a protocol switch: keep Connection: upgrade and Upgrade
  LeaseHeaders lease;
};

// How the response reaches the client.
struct ClientResponseInfo {
  std::string_view request_id;
  bool chunked_body = false;  // re-framed as chunked (the engine's framing is hop-by-hop)
  bool keep_alive = true;     // false adds Connection: close
  bool http10_client = false; // a kept-alive HTTP/1.0 client needs Connection: keep-alive
  bool tunnel = false;
  bool no_store = false;      // Cache-Control: no-store, replacing the engine's
  bool no_buffering = false;  // X-Accel-Buffering: no, on event streams only
};

// True for the fields RFC 9110 7.6.1 makes hop-by-hop (and every Proxy-* field), and for
// those the message's own Connection fields name, except Content-Length and Host: the
// first frames the body as relayed (stripped, the body would pass for a next message),
// the second is required of every HTTP/1.1 request.
bool is_hop_by_hop(const http::fields& fields, std::string_view name);

// Appends the request head the engine receives: request line as HTTP/1.1, end-to-end
// fields as sent, hop-by-hop fields and Expect dropped (baton answers 100 Continue
// itself), X-Forwarded-For extended, X-Forwarded-Proto/-Host set when absent,
// X-Request-Id set, the lease headers, and the body framing. Baton-* fields from the
// client never reach the engine: a client must not choose its own fence.
void write_upstream_request_head(const RequestHeader& request, const UpstreamRequestInfo& info,
                                 std::string& out);

// Appends the response head the client receives: status line, end-to-end fields,
// X-Request-Id, and the framing and connection fields of `info`.
void write_client_response_head(const ResponseHeader& response, const ClientResponseInfo& info,
                                std::string& out);

// A request id the client may choose: 1..128 visible ASCII characters.
bool is_valid_request_id(std::string_view id);

// A WebSocket handshake (RFC 6455 4.1): GET, Connection: upgrade, Upgrade: websocket.
bool is_websocket_upgrade(const RequestHeader& request);

// Whether a response with this status to this method carries a body (RFC 9110 6.4.1).
bool response_has_body(http::verb method, unsigned status);

// ---- Request heads that must not be forwarded (RFC 9112) ----------------------------
// Beast's parser already refuses malformed lines, control characters, whitespace before
// a colon, bad or differing Content-Length values, a second chunked coding and most
// Content-Length/Transfer-Encoding pairs. These are the rules it leaves to its caller.

// Why a parsed request head cannot be forwarded as it is.
enum class HeadFault {
  none,
  length_and_encoding,        // Content-Length and Transfer-Encoding: a smuggling attempt (6.1) -> 400
  encoding_in_http10,         // Transfer-Encoding in HTTP/1.0: faulty framing (6.1) -> 400
  repeated_length,            // Content-Length twice or as a list, even of one value (RFC 9110 8.6) -> 400
  chunked_not_final,          // missing, not last, or applied twice: no length (6.3, 7) -> 400
  framing_lookalike,          // Content_Length, Transfer_Encoding: framing to CGI-style servers -> 400
  unknown_transfer_coding,    // a coding besides chunked (6.1) -> 501
  missing_host,               // HTTP/1.1 without Host (3.2) -> 400
  duplicate_host,             // more than one Host line (3.2) -> 400
  bad_host,                   // a Host value that is no host[:port] (3.2) -> 400
};

// Framing first, then Host: a head has one fault at most, the first found.
HeadFault check_request_head(const RequestHeader& request);

// Whether raw head bytes hold an obs-fold, a line break followed by a space or a tab
// (RFC 9112 5.2). Beast unfolds them without telling; a server may refuse them (400),
// and a proxy must, since the next hop may read the fold differently.
bool has_obs_fold(std::string_view head_bytes);

// The version at the end of a request line, whole or still arriving: "GET / HTTP/2.0"
// gives {2, 0}. nullopt unless the line is method SP target SP HTTP/<digit>.<digit>.
struct RequestLineVersion {
  int major = 0;
  int minor = 0;
  std::size_t minor_at = 0;  // offset of the minor digit in the bytes
};
std::optional<RequestLineVersion> request_line_version(std::string_view bytes);

}  // namespace baton::proxy
