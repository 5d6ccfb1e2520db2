// Header rules between the client and the engine, as pure functions: a parsed head goes
// in, the bytes of the head to send come out. Fields pass through by being copied into
// a reused buffer, never by editing the parsed message, so a request whose fields pass
// unchanged costs no allocation.
#pragma once

#include "baton/core/asio.hpp"

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
// those the message's own Connection fields name.
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

}  // namespace baton::proxy
