// The request target of a baton-lockd request, taken apart: path segments and query
// parameters, percent-decoded. Pure: no I/O, no allocation beyond the result.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace baton::lockd {

struct QueryParameter {
  std::string name;
  std::string value;  // "" for "?name" and "?name="
};

struct RequestTarget {
  // "/v1/leases/a%3Ab" -> {"v1", "leases", "a:b"}; "/v1/leases/" ends with an empty segment.
  // Segments are split before decoding, so an encoded "/" (%2F) stays inside its segment.
  std::vector<std::string> segments;
  // In order of appearance; "+" is kept as is (tokens may contain it), only %XX decodes.
  std::vector<QueryParameter> query;
};

struct TargetError {
  std::string message;
};

// Only the origin form ("/path?query") is accepted: baton-lockd is no forward proxy.
std::variant<RequestTarget, TargetError> parse_request_target(std::string_view target);

}  // namespace baton::lockd
