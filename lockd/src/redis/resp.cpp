#include "baton/redis/resp.hpp"

#include "baton/redis/error.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <new>

namespace baton::redis {
namespace {

// Decimal digits of `value`.
std::size_t digits(std::size_t value) {
  std::size_t count = 1;
  while (value >= 10) {
    value /= 10;
    ++count;
  }
  return count;
}

// Writes "<kind><value>\r\n" at `at`; returns the end.
char* put_header(char* at, char kind, std::size_t value) {
  *at++ = kind;
  at = std::to_chars(at, at + digits(value), value).ptr;
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

// The size of an argument as a bulk string: "$<length>\r\n<bytes>\r\n".
std::size_t bulk_size(std::size_t length) { return 3 + digits(length) + length + 2; }

char* put_bulk(char* at, std::string_view arg) {
  at = put_header(at, '$', arg.size());
  at = std::copy(arg.begin(), arg.end(), at);
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

// An array of bulk strings made of the arguments of `parts` in order, written in one
// pass into space sized up front. Written here, not with hiredis's formatters: those
// format every length with sprintf or grow their buffer step by step, which came to
// 3-5 % of baton's CPU time on a leased request.
template <class Text>
void encode(std::initializer_list<std::span<const Text>> parts, std::string& out) {
  std::size_t count = 0;
  std::size_t size = 0;
  for (const auto& part : parts) {
    count += part.size();
    for (const auto& arg : part) size += bulk_size(arg.size());
  }
  const std::size_t start = out.size();
  out.resize(start + 3 + digits(count) + size);
  char* at = put_header(out.data() + start, '*', count);
  for (const auto& part : parts)
    for (const auto& arg : part) at = put_bulk(at, arg);
}

Reply convert(const redisReply& raw) {
  Reply reply;
  switch (raw.type) {
    case REDIS_REPLY_STRING: reply.type = Reply::Type::string; break;
    case REDIS_REPLY_STATUS: reply.type = Reply::Type::status; break;
    case REDIS_REPLY_ERROR: reply.type = Reply::Type::error; break;
    case REDIS_REPLY_INTEGER:
      reply.type = Reply::Type::integer;
      reply.integer = raw.integer;
      return reply;
    case REDIS_REPLY_ARRAY:
      reply.type = Reply::Type::array;
      reply.elements.reserve(raw.elements);
      for (std::size_t i = 0; i < raw.elements; ++i) reply.elements.push_back(convert(*raw.element[i]));
      return reply;
    default:  // REDIS_REPLY_NIL, also for the nil array *-1
      return reply;
  }
  reply.text.assign(raw.str, raw.len);
  return reply;
}

}  // namespace

bool Reply::is_error(std::string_view prefix) const {
  return type == Type::error && text.starts_with(prefix) &&
         (text.size() == prefix.size() || text[prefix.size()] == ' ');
}

void encode_command(std::span<const std::string_view> args, std::string& out) { encode({args}, out); }
void encode_command(std::span<const std::string> args, std::string& out) { encode({args}, out); }

void encode_command_of(std::initializer_list<std::span<const std::string_view>> parts, std::string& out) {
  encode(parts, out);
}

struct ReplyReader::Impl {
  redisReader* reader = redisReaderCreate();
  bool broken = false;

  ~Impl() {
    if (reader != nullptr) redisReaderFree(reader);
  }
};

ReplyReader::ReplyReader() : impl_(std::make_unique<Impl>()) {
  if (impl_->reader == nullptr) throw std::bad_alloc();
}

ReplyReader::~ReplyReader() = default;

void ReplyReader::feed(std::string_view bytes) {
  if (impl_->broken || bytes.empty()) return;
  if (redisReaderFeed(impl_->reader, bytes.data(), bytes.size()) != REDIS_OK) impl_->broken = true;
}

std::optional<Reply> ReplyReader::next(std::error_code& error) {
  void* raw = nullptr;
  if (impl_->broken || redisReaderGetReply(impl_->reader, &raw) != REDIS_OK) {
    impl_->broken = true;
    error = Error::protocol;
    return std::nullopt;
  }
  if (raw == nullptr) return std::nullopt;
  // The tree is freed even if the conversion throws (bad_alloc).
  const std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw),
                                                           freeReplyObject);
  return convert(*owned);
}

}  // namespace baton::redis
