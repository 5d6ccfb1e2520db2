// Session-id extraction: which session a request belongs to, from its head and, for json
// sources, its body. Pure: a parsed head and body bytes go in, a decision comes out;
// regexes and JSON pointers are compiled once, when the extractor is built.
#pragma once

#include "baton/core/config.hpp"
#include "baton/proxy/headers.hpp"

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace baton::proxy {

enum class SessionIdStatus {
  found,    // `id` passed session.pattern
  missing,  // no source yielded a non-empty value
  invalid,  // a source yielded a value that is malformed or fails session.pattern -> 400
};

struct SessionIdResult {
  SessionIdStatus status = SessionIdStatus::missing;
  std::string id;  // found only: an invalid value is never handed on, not even to logs
  // found and invalid: the source that yielded the value, and its configured name
  // (header or cookie name, query key, JSON pointer or path regex).
  core::SessionSourceKind source = core::SessionSourceKind::header;
  std::string_view source_name;  // lives as long as the extractor
  std::string_view reason;       // invalid only: a short static text for the 400 body
};

// How each source reads its value:
// - header: the first field of that name (names are case-insensitive);
// - cookie: every Cookie field, pairs split on ';' with the spaces around them
//   trimmed, names compared exactly, "quoted" values unquoted; no percent-decoding
//   (RFC 6265 defines none); the first pair of that name;
// - query: the target's query string, pairs split on '&', keys and values
//   percent-decoded with '+' as a space (HTML forms); the first pair of that key;
// - json: the body parsed as JSON, the value at the pointer; a string, or an integer
//   rendered in decimal; null counts as missing; a body that is not JSON too;
// - path: the regex searched in the path (target before '?', not decoded), its first
//   capture group percent-decoded ('+' stays '+').
//
// The first source in configured order that yields a non-empty value decides: its value
// is the id if it passes session.pattern (whole-string match), and the request is
// invalid if not, or if its percent-encoding is malformed; later sources are not
// consulted then, so a bad header cannot be masked by a good cookie. Empty values count
// as missing and the next source is tried.
//
// Immutable once built: one extractor may be shared by every worker thread.
class SessionIdExtractor {
public:
  // Throws std::invalid_argument for a regex that compile_request_regex rejects.
  explicit SessionIdExtractor(const core::SessionConfig& config);
  ~SessionIdExtractor();
  SessionIdExtractor(SessionIdExtractor&&) noexcept;
  SessionIdExtractor& operator=(SessionIdExtractor&&) noexcept;

  // True when a json source is configured: the caller then buffers the body, up to
  // max_json_body() (beyond -> 413), on routes whose lease is not none.
  bool needs_body() const noexcept { return needs_body_; }
  std::size_t max_json_body() const noexcept { return max_json_body_; }

  // `body` is the buffered body, or empty when it was not buffered.
  SessionIdResult extract(const RequestHeader& request, std::string_view body) const;

  // session.pattern, as extract applies it, within what the lease store takes as a key
  // (lease::is_valid_session_id), whatever the pattern allows.
  bool is_valid_id(std::string_view id) const;

private:
  struct Source;  // a configured source with its compiled regex or JSON pointer

  SessionIdResult from_source(const Source& source, const RequestHeader& request,
                              std::string_view body) const;
  SessionIdResult from_json(const Source& source, std::string_view body) const;
  // Why `id` is refused (a short static text), empty when it is valid.
  std::string_view refusal(std::string_view id) const;
  SessionIdResult checked(const Source& source, std::string_view id) const;
  SessionIdResult decoded(const Source& source, std::string_view encoded, bool plus_as_space) const;
  static SessionIdResult found(const Source& source, std::string id);
  static SessionIdResult invalid(const Source& source, std::string_view reason);

  std::vector<Source> sources_;
  std::regex pattern_;
  bool default_pattern_ = false;
  bool needs_body_ = false;
  std::size_t max_json_body_ = 0;
};

// Appends `encoded` percent-decoded (RFC 3986 2.1) to `out`; with `plus_as_space`, '+'
// becomes ' ' as in HTML form data. False for a '%' not followed by two hex digits.
bool percent_decode(std::string_view encoded, bool plus_as_space, std::string& out);

}  // namespace baton::proxy
