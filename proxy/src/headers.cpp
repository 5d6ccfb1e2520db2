#include "baton/proxy/headers.hpp"

#include <array>
#include <string>

namespace baton::proxy {
namespace {

constexpr std::array<std::string_view, 6> fixed_hop_by_hop{
    "Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade"};

bool starts_with_proxy_dash(std::string_view name) {
  return name.size() > 6 && beast::iequals(name.substr(0, 6), "Proxy-");
}

// Beast's equal_range spans the list from the first to the last field of a name, with
// any other fields in between, so repeated fields are collected by a full walk.
template <class Visit>
void for_each_value(const http::fields& fields, std::string_view name, Visit visit) {
  for (const auto& field : fields) {
    if (beast::iequals(field.name_string(), name)) visit(field.value());
  }
}

bool connection_names(const http::fields& fields, std::string_view name) {
  bool named = false;
  for_each_value(fields, "Connection", [&](std::string_view value) {
    for (auto token : http::token_list{value}) named = named || beast::iequals(token, name);
  });
  return named;
}

void erase_named_by_connection(http::fields& fields, bool keep_upgrade) {
  // Collect first: erasing while walking the Connection values would invalidate them.
  std::vector<std::string> named;
  for_each_value(fields, "Connection", [&](std::string_view value) {
    for (auto token : http::token_list{value}) {
      if (!(keep_upgrade && beast::iequals(token, "upgrade"))) named.emplace_back(token);
    }
  });
  for (const auto& name : named) fields.erase(name);
}

void erase_proxy_fields(http::fields& fields) {
  for (auto it = fields.begin(); it != fields.end();) {
    it = starts_with_proxy_dash(it->name_string()) ? fields.erase(it) : std::next(it);
  }
}

constexpr std::string_view x_forwarded_for = "X-Forwarded-For";
constexpr std::string_view x_forwarded_proto = "X-Forwarded-Proto";
constexpr std::string_view x_forwarded_host = "X-Forwarded-Host";

void append_forwarded_for(http::fields& fields, std::string_view client_address) {
  std::string chain;
  for_each_value(fields, x_forwarded_for, [&](std::string_view value) {
    if (!value.empty()) chain.append(value).append(", ");
  });
  chain.append(client_address);
  fields.set(x_forwarded_for, chain);
}

void set_if_absent(http::fields& fields, std::string_view name, std::string_view value) {
  if (fields.find(name) == fields.end()) fields.set(name, value);
}

}  // namespace

bool is_hop_by_hop(const http::fields& fields, std::string_view name) {
  for (auto fixed : fixed_hop_by_hop) {
    if (beast::iequals(fixed, name)) return true;
  }
  return starts_with_proxy_dash(name) || connection_names(fields, name);
}

void remove_hop_by_hop(http::fields& fields, bool keep_upgrade) {
  erase_named_by_connection(fields, keep_upgrade);
  for (auto name : fixed_hop_by_hop) {
    if (keep_upgrade && (name == "Connection" || name == "Upgrade")) continue;
    fields.erase(name);
  }
  erase_proxy_fields(fields);
  if (keep_upgrade) fields.set(http::field::connection, "upgrade");
}

void prepare_upstream_request(RequestHeader& request, const ForwardedFor& forwarded,
                              bool tunnel) {
  remove_hop_by_hop(request, tunnel);
  request.erase(http::field::expect);
  append_forwarded_for(request, forwarded.client_address);
  set_if_absent(request, x_forwarded_proto, "http");
  if (auto host = request.find(http::field::host); host != request.end()) {
    set_if_absent(request, x_forwarded_host, host->value());
  }
  request.set("X-Request-Id", forwarded.request_id);
}

void prepare_client_response(ResponseHeader& response, std::string_view request_id,
                             bool tunnel) {
  remove_hop_by_hop(response, tunnel);
  response.set("X-Request-Id", request_id);
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool is_websocket_upgrade(const RequestHeader& request) {
  if (request.method() != http::verb::get) return false;
  if (!connection_names(request, "upgrade")) return false;
  for (auto token : http::token_list{request[http::field::upgrade]}) {
    if (beast::iequals(token, "websocket")) return true;
  }
  return false;
}

bool response_has_body(http::verb method, unsigned status) {
  if (method == http::verb::head) return false;
  return !(status < 200 || status == 204 || status == 304);
}

}  // namespace baton::proxy
