// Header rewriting between the client and the engine. Pure functions over Beast
// header objects: no I/O, so every rule has a unit test.
#pragma once

#include "baton/core/asio.hpp"

#include <string_view>

namespace baton::proxy {

using RequestHeader = http::request_header<>;
using ResponseHeader = http::response_header<>;

// What the relay knows about a request that the engine should be told.
struct ForwardedFor {
  std::string_view client_address;  // the peer address of the client connection
  std::string_view request_id;      // kept or generated; see is_valid_request_id
};

// True for the fields RFC 9110 7.6.1 makes hop-by-hop, and for those the message's
// own Connection field names.
bool is_hop_by_hop(const http::fields& fields, std::string_view name);

// Removes every hop-by-hop field. With `keep_upgrade`, the Connection: upgrade and
// Upgrade fields of a protocol switch survive so that it can be tunnelled.
void remove_hop_by_hop(http::fields& fields, bool keep_upgrade = false);

// Rewrites a client request, in place, into the request the engine receives:
// hop-by-hop fields removed, X-Forwarded-For/-Proto/-Host and X-Request-Id set, and
// Expect removed (baton answers 100 Continue itself, as nginx does).
void prepare_upstream_request(RequestHeader& request, const ForwardedFor& forwarded,
                              bool tunnel);

// Rewrites an engine response, in place, into the response the client receives.
// Framing is the caller's: Content-Length is kept, Transfer-Encoding is removed.
void prepare_client_response(ResponseHeader& response, std::string_view request_id,
                             bool tunnel);

// A request id the client may choose: 1..128 visible ASCII characters.
bool is_valid_request_id(std::string_view id);

// A WebSocket handshake (RFC 6455 4.1): GET, Connection: upgrade, Upgrade: websocket.
bool is_websocket_upgrade(const RequestHeader& request);

// Whether a response with this status to this method carries a body (RFC 9110 6.4.1).
bool response_has_body(http::verb method, unsigned status);

}  // namespace baton::proxy
