#include "request_target.hpp"

#include <optional>

namespace baton::lockd {
namespace {

std::optional<int> hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const auto high = hex_value(text[i + 1]);
    const auto low = hex_value(text[i + 2]);
    if (!high || !low) return std::nullopt;
    decoded += static_cast<char>(*high * 16 + *low);
    i += 2;
  }
  return decoded;
}

TargetError bad_escape(std::string_view where) {
  return {"malformed %-escape in the " + std::string(where) + " of the request target"};
}

}  // namespace

std::variant<RequestTarget, TargetError> parse_request_target(std::string_view target) {
  if (!target.starts_with('/')) return TargetError{"expected a request target that starts with '/'"};
  const auto query_start = target.find('?');
  const bool has_query = query_start != std::string_view::npos;
  const std::string_view path = target.substr(1, has_query ? query_start - 1 : target.npos);
  const std::string_view query = has_query ? target.substr(query_start + 1) : std::string_view{};

  RequestTarget parsed;
  for (std::size_t start = 0;;) {
    const auto slash = path.find('/', start);
    auto segment = percent_decode(path.substr(start, slash == path.npos ? path.npos : slash - start));
    if (!segment) return bad_escape("path");
    parsed.segments.push_back(std::move(*segment));
    if (slash == path.npos) break;
    start = slash + 1;
  }

  for (std::size_t start = 0; start < query.size();) {
    const auto amp = query.find('&', start);
    const auto piece = query.substr(start, amp == query.npos ? query.npos : amp - start);
    start = amp == query.npos ? query.size() : amp + 1;
    if (piece.empty()) continue;  // "a=1&&b=2"
    const auto equals = piece.find('=');
    auto name = percent_decode(piece.substr(0, equals));
    auto value = percent_decode(equals == piece.npos ? std::string_view{} : piece.substr(equals + 1));
    if (!name || !value) return bad_escape("query");
    parsed.query.push_back({std::move(*name), std::move(*value)});
  }
  return parsed;
}

}  // namespace baton::lockd
