#include "baton/redis/resp.hpp"

#include "baton/redis/error.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using baton::redis::encode_command;
using baton::redis::encode_command_of;
using baton::redis::Error;
using baton::redis::Reply;
using baton::redis::ReplyReader;
using namespace std::string_literals;
using namespace std::string_view_literals;

// A reply as one line of text, so that a mismatch shows the whole tree.
std::string show(const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::string: return "\"" + reply.text + "\"";
    case Reply::Type::status: return "+" + reply.text;
    case Reply::Type::error: return "-" + reply.text;
    case Reply::Type::integer: return std::to_string(reply.integer);
    case Reply::Type::nil: return "nil";
    case Reply::Type::array: {
      std::string text = "[";
      for (std::size_t i = 0; i < reply.elements.size(); ++i)
        text += (i > 0 ? ", " : "") + show(reply.elements[i]);
      return text + "]";
    }
  }
  return "?";
}

std::string encoded(std::vector<std::string> args) {
  std::string out;
  encode_command(std::span<const std::string>(args), out);
  return out;
}

// Every reply the reader can complete now.
std::vector<std::string> drain(ReplyReader& reader) {
  std::vector<std::string> replies;
  std::error_code error;
  while (auto reply = reader.next(error)) replies.push_back(show(*reply));
  REQUIRE_FALSE(error);
  return replies;
}

Reply decode_one(std::string_view bytes) {
  ReplyReader reader;
  reader.feed(bytes);
  std::error_code error;
  auto reply = reader.next(error);
  REQUIRE_FALSE(error);
  REQUIRE(reply.has_value());
  CHECK_FALSE(reader.next(error).has_value());
  return std::move(*reply);
}

// Several replies of every type, nested arrays and binary strings among them.
constexpr std::string_view stream =
    "+OK\r\n"
    "-ERR wrong number of arguments\r\n"
    ":42\r\n"
    ":-7\r\n"
    "$5\r\nhello\r\n"
    "$0\r\n\r\n"
    "$-1\r\n"
    "*-1\r\n"
    "*0\r\n"
    "$6\r\na\r\n\0bc\r\n"
    "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*1\r\n$-1\r\n+QUEUED\r\n"sv;

const std::vector<std::string> stream_replies{
    "+OK", "-ERR wrong number of arguments", "42", "-7", "\"hello\"", "\"\"", "nil", "nil", "[]",
    "\"a\r\n\0bc\""s, "[1, [\"x\", [nil]], +QUEUED]"};

}  // namespace

TEST_SUITE("resp") {
  TEST_CASE("encodes a command as an array of bulk strings") {
    CHECK(encoded({"SET", "key", "value"}) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    CHECK(encoded({"PING"}) == "*1\r\n$4\r\nPING\r\n");
  }

  TEST_CASE("encodes binary-safe arguments: CR LF and NUL and empty") {
    CHECK(encoded({"SET", "a\r\nb\0c"s, ""}) == "*3\r\n$3\r\nSET\r\n$6\r\na\r\nb\0c\r\n$0\r\n\r\n"s);
  }

  TEST_CASE("appends to what is already queued from strings or string views") {
    std::string out = "*1\r\n$4\r\nPING\r\n";
    const std::vector<std::string_view> args{"GET", "k"};
    encode_command(std::span<const std::string_view>(args), out);
    CHECK(out == "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  }

  TEST_CASE("encodes many arguments, and lengths of several digits") {
    std::vector<std::string> args{"RPUSH", "list"};
    for (int i = 0; i < 40; ++i) args.push_back(std::to_string(i));
    args.push_back(std::string(1234, 'x'));
    const std::string out = encoded(args);
    CHECK(out.starts_with("*43\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$1\r\n0\r\n"));
    CHECK(out.ends_with("$2\r\n39\r\n$1234\r\n" + std::string(1234, 'x') + "\r\n"));
  }

  TEST_CASE("encodes one command from several parts, empty ones included") {
    const std::array<std::string_view, 3> head{"EVALSHA", "abc", "1"};
    const std::array<std::string_view, 1> keys{"k"};
    const std::span<const std::string_view> none;
    std::string out = "*1\r\n$4\r\nPING\r\n";
    encode_command_of({head, keys, none}, out);
    CHECK(out == "*1\r\n$4\r\nPING\r\n" + encoded({"EVALSHA", "abc", "1", "k"}));
  }

  TEST_CASE("decodes every reply type") {
    const Reply status = decode_one("+OK\r\n");
    CHECK(status.type == Reply::Type::status);
    CHECK(status.text == "OK");

    const Reply error = decode_one("-NOSCRIPT No matching script.\r\n");
    CHECK(error.is_error());
    CHECK(error.text == "NOSCRIPT No matching script.");
    CHECK(error.is_error("NOSCRIPT"));
    CHECK_FALSE(error.is_error("NOSCRIP"));  // a whole first word, not any prefix
    CHECK_FALSE(error.is_error("ERR"));
    CHECK(decode_one("-BUSY\r\n").is_error("BUSY"));

    const Reply integer = decode_one(":-9223372036854775808\r\n");
    CHECK(integer.type == Reply::Type::integer);
    CHECK(integer.integer == std::numeric_limits<long long>::min());

    const Reply bulk = decode_one("$3\r\n\r\n\0\r\n"sv);
    CHECK(bulk.type == Reply::Type::string);
    CHECK(bulk.text == "\r\n\0"s);

    CHECK(decode_one("$-1\r\n").is_nil());
    CHECK(decode_one("*-1\r\n").is_nil());

    const Reply empty = decode_one("*0\r\n");
    CHECK(empty.type == Reply::Type::array);
    CHECK(empty.elements.empty());
  }

  TEST_CASE("decodes nested arrays") {
    const Reply reply = decode_one("*2\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n*2\r\n:1\r\n*1\r\n-ERR in\r\n");
    CHECK(show(reply) == "[[\"message\", \"ch\", \"x\"], [1, [-ERR in]]]");
    CHECK(reply.elements[1].elements[1].elements[0].is_error("ERR"));
  }

  TEST_CASE("several replies in one feed come out in order") {
    ReplyReader reader;
    reader.feed(stream);
    CHECK(drain(reader) == stream_replies);
  }

  TEST_CASE("replies split at every byte boundary decode the same") {
    for (std::size_t split = 0; split <= stream.size(); ++split) {
      CAPTURE(split);
      ReplyReader reader;
      reader.feed(stream.substr(0, split));
      auto replies = drain(reader);
      reader.feed(stream.substr(split));
      for (auto& reply : drain(reader)) replies.push_back(std::move(reply));
      CHECK(replies == stream_replies);
    }
  }

  TEST_CASE("replies fed one byte at a time decode the same") {
    ReplyReader reader;
    std::vector<std::string> replies;
    for (char byte : stream) {
      reader.feed({&byte, 1});
      for (auto& reply : drain(reader)) replies.push_back(std::move(reply));
    }
    CHECK(replies == stream_replies);
  }

  TEST_CASE("an incomplete reply waits for more bytes") {
    ReplyReader reader;
    reader.feed("$10\r\nhello");
    std::error_code error;
    CHECK_FALSE(reader.next(error).has_value());
    CHECK_FALSE(error);
    reader.feed("world\r\n");
    const auto reply = reader.next(error);
    REQUIRE(reply.has_value());
    CHECK(reply->text == "helloworld");
  }

  TEST_CASE("bytes that are not RESP are a protocol error and the reader stays broken") {
    ReplyReader reader;
    reader.feed("+OK\r\n?what\r\n");
    std::error_code error;
    const auto first = reader.next(error);
    REQUIRE(first.has_value());
    CHECK(first->text == "OK");
    CHECK_FALSE(reader.next(error).has_value());
    CHECK(error == Error::protocol);

    reader.feed("+OK\r\n");
    error.clear();
    CHECK_FALSE(reader.next(error).has_value());
    CHECK(error == Error::protocol);
  }

  TEST_CASE("a bad length is a protocol error") {
    ReplyReader reader;
    reader.feed("$abc\r\n");
    std::error_code error;
    CHECK_FALSE(reader.next(error).has_value());
    CHECK(error == Error::protocol);
  }

  TEST_CASE("the error category names the errors") {
    const std::error_code error = Error::unreachable;
    CHECK(std::string(error.category().name()) == "redis");
    CHECK(error.message() == "Redis unreachable");
    CHECK(std::error_code(Error::auth).message().find("credentials") != std::string::npos);
  }
}
