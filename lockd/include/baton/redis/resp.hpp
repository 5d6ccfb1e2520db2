// RESP, Redis's wire format: commands encoded here (arrays of bulk strings), replies
// decoded with hiredis's redisReader. Pure code: bytes in, values out.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace baton::redis {

// One decoded reply (RESP2).
struct Reply {
  enum class Type { string, status, error, integer, nil, array };

  Type type = Type::nil;
  std::string text;  // string, status and error
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
  // An error reply whose first word is `prefix` ("NOSCRIPT", "WRONGPASS", ...).
  bool is_error(std::string_view prefix) const;
};

// Appends one command, as RESP, to `out`. Arguments are binary-safe.
void encode_command(std::span<const std::string_view> args, std::string& out);
void encode_command(std::span<const std::string> args, std::string& out);
// One command whose arguments are those of `parts`, in order (a verb, then keys, then
// values, say), without gathering them first.
void encode_command_of(std::initializer_list<std::span<const std::string_view>> parts, std::string& out);

// Incremental decoder: feed it bytes as they arrive, take replies as they complete.
class ReplyReader {
public:
  ReplyReader();
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  void feed(std::string_view bytes);

  // The next complete reply; nullopt when more bytes are needed. A protocol error
  // (bytes that are not RESP) sets `error` to Error::protocol and leaves the reader
  // unusable: every later call fails the same way.
  std::optional<Reply> next(std::error_code& error);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::redis
