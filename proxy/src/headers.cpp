#include "baton/proxy/headers.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace baton::proxy {
namespace {

constexpr std::string_view crlf = "\r\n";
constexpr std::string_view x_forwarded_for = "X-Forwarded-For";
constexpr std::string_view x_forwarded_proto = "X-Forwarded-Proto";
constexpr std::string_view x_forwarded_host = "X-Forwarded-Host";
constexpr std::string_view x_request_id = "X-Request-Id";
constexpr std::string_view baton_fence = "Baton-Fence";
constexpr std::string_view baton_migrated = "Baton-Session-Migrated";

bool is_baton_field(std::string_view name) {
  return name.size() >= 6 && beast::iequals(name.substr(0, 6), "Baton-");
}

using Field = http::fields::value_type;

bool is_named(const Field& field, std::string_view name) {
  auto actual = field.name_string();
  return actual.size() == name.size() && beast::iequals(actual, name);
}

// The tokens of every Connection field: the names this message adds to the hop-by-hop set.
class ConnectionTokens {
public:
  explicit ConnectionTokens(const http::fields& fields) {
    for (const auto& field : fields) {
      if (field.name() != http::field::connection) continue;
      for (auto token : http::token_list{field.value()}) tokens_.push_back(token);
    }
  }

  bool names(std::string_view name) const {
    return std::any_of(tokens_.begin(), tokens_.end(),
                       [&](std::string_view token) { return beast::iequals(token, name); });
  }

private:
  boost::container::small_vector<std::string_view, 8> tokens_;
};

bool is_fixed_hop_by_hop(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

// Fields a Connection field may not strip, although RFC 9110 7.6.1 says to remove what
// it names (a sender must not name fields meant for every recipient). Content-Length
// frames the body as baton relays it: without it the next hop would read the body as
// another message (request smuggling). Host is required of every HTTP/1.1 request.
bool is_never_hop_by_hop(http::field name) {
  return name == http::field::content_length || name == http::field::host;
}

bool is_proxy_field(std::string_view name) {
  return name.size() >= 6 && beast::iequals(name.substr(0, 6), "Proxy-");  // "Proxy-" alone too
}

// Whether `field` stops at this hop. A tunnel keeps Upgrade; its Connection is rewritten.
bool stops_here(const Field& field, const ConnectionTokens& connection, bool tunnel) {
  if (tunnel && field.name() == http::field::upgrade) return false;
  if (is_never_hop_by_hop(field.name())) return false;
  return is_fixed_hop_by_hop(field.name()) || is_proxy_field(field.name_string()) ||
         connection.names(field.name_string());
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append(crlf);
}

void append_forwarded_for(const RequestHeader& request, std::string_view client_address,
                          std::string& out) {
  out.append(x_forwarded_for).append(": ");
  for (const auto& field : request) {
    if (is_named(field, x_forwarded_for) && !field.value().empty()) {
      out.append(field.value()).append(", ");
    }
  }
  out.append(client_address).append(crlf);
}

// Whether the client's field gives way to one the lease headers set.
bool replaced_by_lease(const Field& field, const LeaseHeaders& lease) {
  switch (field.name()) {
    case http::field::cache_control:
    case http::field::pragma:
      return lease.cache_bypass;
    case http::field::accept_encoding:
      return lease.identity_encoding;
    default:
      return false;
  }
}

void append_lease_headers(std::string& out, const LeaseHeaders& lease) {
  if (lease.cache_bypass) {
    append_field(out, "Cache-Control", "no-cache");
    append_field(out, "Pragma", "no-cache");
  }
  if (lease.fence != 0) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, lease.fence).ptr;
    append_field(out, baton_fence, std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }
  if (lease.migrated) append_field(out, baton_migrated, "?1");
  if (lease.identity_encoding) append_field(out, "Accept-Encoding", "identity");
}

bool is_event_stream(const ResponseHeader& response) {
  auto type = response[http::field::content_type];
  return type.size() >= 17 && beast::iequals(type.substr(0, 17), "text/event-stream");
}

void append_framing(std::string& out, bool chunked_body, bool tunnel) {
  if (tunnel) append_field(out, "Connection", "upgrade");
  if (chunked_body) append_field(out, "Transfer-Encoding", "chunked");
}

}  // namespace

bool is_hop_by_hop(const http::fields& fields, std::string_view name) {
  const http::field known = http::string_to_field(name);
  if (is_never_hop_by_hop(known)) return false;
  if (is_proxy_field(name) || ConnectionTokens(fields).names(name)) return true;
  return is_fixed_hop_by_hop(known);
}

void write_upstream_request_head(const RequestHeader& request, const UpstreamRequestInfo& info,
                                 std::string& out) {
  out.append(request.method_string()).append(" ").append(request.target()).append(" HTTP/1.1\r\n");
  const ConnectionTokens connection(request);
  std::string_view host;
  bool has_forwarded_proto = false;
  bool has_forwarded_host = false;
  for (const auto& field : request) {
    if (stops_here(field, connection, info.tunnel)) continue;
    if (field.name() == http::field::expect || is_named(field, x_request_id) ||
        is_named(field, x_forwarded_for) || is_baton_field(field.name_string()) ||
        replaced_by_lease(field, info.lease)) {
      continue;  // replaced below, or not the client's to send
    }
    if (field.name() == http::field::host) host = field.value();
    has_forwarded_proto = has_forwarded_proto || is_named(field, x_forwarded_proto);
    has_forwarded_host = has_forwarded_host || is_named(field, x_forwarded_host);
    append_field(out, field.name_string(), field.value());
  }
  append_forwarded_for(request, info.client_address, out);
  if (!has_forwarded_proto) append_field(out, x_forwarded_proto, "http");
  if (!has_forwarded_host && !host.empty()) append_field(out, x_forwarded_host, host);
  append_field(out, x_request_id, info.request_id);
  append_lease_headers(out, info.lease);
  append_framing(out, info.chunked_body, info.tunnel);
  out.append(crlf);
}

void write_client_response_head(const ResponseHeader& response, const ClientResponseInfo& info,
                                std::string& out) {
  const unsigned status = response.result_int();
  char digits[3];
  std::to_chars(digits, digits + 3, status);
  auto reason = response.reason();
  if (reason.empty()) reason = http::obsolete_reason(response.result());
  out.append("HTTP/1.1 ").append(digits, 3).append(" ").append(reason).append(crlf);

  const ConnectionTokens connection(response);
  for (const auto& field : response) {
    if (stops_here(field, connection, info.tunnel) || is_named(field, x_request_id)) continue;
    if (info.no_store && field.name() == http::field::cache_control) continue;
    append_field(out, field.name_string(), field.value());
  }
  append_field(out, x_request_id, info.request_id);
  if (info.no_store) append_field(out, "Cache-Control", "no-store");
  if (info.no_buffering && is_event_stream(response)) append_field(out, "X-Accel-Buffering", "no");
  if (!info.tunnel) {
    if (!info.keep_alive) {
      append_field(out, "Connection", "close");
    } else if (info.http10_client) {
      append_field(out, "Connection", "keep-alive");
    }
  }
  append_framing(out, info.chunked_body, info.tunnel);
  out.append(crlf);
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool is_websocket_upgrade(const RequestHeader& request) {
  if (request.method() != http::verb::get) return false;
  if (!ConnectionTokens(request).names("upgrade")) return false;
  for (auto token : http::token_list{request[http::field::upgrade]}) {
    if (beast::iequals(token, "websocket")) return true;
  }
  return false;
}

bool response_has_body(http::verb method, unsigned status) {
  if (method == http::verb::head) return false;
  return !(status < 200 || status == 204 || status == 304);
}

// ---- Request heads that must not be forwarded ------------------------------------------

namespace {

std::string_view trim_ows(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// The codings of every Transfer-Encoding line, in order (RFC 9112 6.1). The request
// can be forwarded only when chunked is there once and last, and nothing else is.
HeadFault transfer_coding_fault(const RequestHeader& request) {
  std::size_t chunked = 0;
  bool chunked_last = false;
  bool unknown = false;
  for (const auto& field : request) {
    if (field.name() != http::field::transfer_encoding) continue;
    std::string_view rest = field.value();
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const auto coding = trim_ows(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (coding.empty()) continue;  // empty list elements are allowed (RFC 9110 5.6.1)
      chunked_last = beast::iequals(coding, "chunked");
      chunked += chunked_last ? 1 : 0;
      unknown = unknown || !chunked_last;
    }
  }
  if (!chunked_last || chunked > 1) return HeadFault::chunked_not_final;
  return unknown ? HeadFault::unknown_transfer_coding : HeadFault::none;
}

// Beast takes "Transfer_Encoding" for an unknown field, but servers that map names
// CGI-style (underscore as dash) read it as framing, and would end the body elsewhere
// than baton does. nginx drops such fields; baton refuses the request.
bool is_framing_lookalike(const Field& field) {
  if (field.name() != http::field::unknown) return false;
  const auto name = field.name_string();
  if (name.find('_') == std::string_view::npos) return false;
  const auto same = [&](std::string_view framing) {
    return std::equal(name.begin(), name.end(), framing.begin(), framing.end(), [](char a, char b) {
      return (a == '_' ? '-' : std::tolower(static_cast<unsigned char>(a))) == b;
    });
  };
  return same("content-length") || same("transfer-encoding");
}

// uri-host [":" port] (RFC 3986 3.2.2): reg-name, IPv4 or [IP-literal] characters.
bool is_host_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~%!$&'()*+,;=:[]").find(c) != std::string_view::npos;
}

HeadFault host_fault(const RequestHeader& request) {
  const auto [first, last] = request.equal_range(http::field::host);
  if (first == last) return request.version() >= 11 ? HeadFault::missing_host : HeadFault::none;
  if (std::next(first) != last) return HeadFault::duplicate_host;
  const auto value = first->value();
  return std::all_of(value.begin(), value.end(), is_host_char) ? HeadFault::none : HeadFault::bad_host;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 9110 8.6 lets a recipient take "5, 5" or two lines of 5 as 5, or reject them.
// Forwarded as they are, the engine may do the other (Node rejects them); so does
// nginx, and so does baton.
bool has_repeated_length(const RequestHeader& request) {
  const auto [first, last] = request.equal_range(http::field::content_length);
  if (first == last) return false;
  return std::next(first) != last || first->value().find(',') != std::string_view::npos;
}

}  // namespace

HeadFault check_request_head(const RequestHeader& request) {
  if (has_repeated_length(request)) return HeadFault::repeated_length;
  if (request.find(http::field::transfer_encoding) != request.end()) {
    if (request.find(http::field::content_length) != request.end()) return HeadFault::length_and_encoding;
    if (request.version() < 11) return HeadFault::encoding_in_http10;
    if (const auto fault = transfer_coding_fault(request); fault != HeadFault::none) return fault;
  }
  if (std::any_of(request.begin(), request.end(), is_framing_lookalike)) return HeadFault::framing_lookalike;
  return host_fault(request);
}

bool has_obs_fold(std::string_view head_bytes) {
  for (auto at = head_bytes.find('\n'); at != std::string_view::npos && at + 1 < head_bytes.size();
       at = head_bytes.find('\n', at + 1)) {
    if (head_bytes[at + 1] == ' ' || head_bytes[at + 1] == '\t') return true;
  }
  return false;
}

std::optional<RequestLineVersion> request_line_version(std::string_view bytes) {
  const std::string_view line = bytes.substr(0, bytes.find_first_of("\r\n"));
  const auto method_end = line.find(' ');
  if (method_end == std::string_view::npos) return std::nullopt;
  const auto target_end = line.find(' ', method_end + 1);
  if (target_end == std::string_view::npos) return std::nullopt;
  const std::string_view version = line.substr(target_end + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) || version[6] != '.' ||
      !is_digit(version[7])) {
    return std::nullopt;
  }
  return RequestLineVersion{version[5] - '0', version[7] - '0', target_end + 1 + 7};
}

}  // namespace baton::proxy
