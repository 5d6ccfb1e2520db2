#include "baton/redis/resp.hpp"

#include "baton/redis/error.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <charconv>
#include <new>

namespace baton::redis {
namespace {

// "*<count>\r\n" or "$<length>\r\n".
void append_header(char kind, std::size_t value, std::string& out) {
  std::array<char, 24> digits;
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
  out.push_back(kind);
  out.append(digits.data(), end);
  out.append("\r\n");
}

// An array of bulk strings. Written here, not with hiredis's formatters: those format
// every length with sprintf or grow their buffer step by step, which came to 3-5 % of
// baton's CPU time on a leased request.
template <class Text>
void encode(std::span<const Text> args, std::string& out) {
  std::size_t size = 16;
  for (const auto& arg : args) size += arg.size() + 16;
  out.reserve(out.size() + size);
  append_header('*', args.size(), out);
  for (const auto& arg : args) {
    append_header('$', arg.size(), out);
    out.append(arg.data(), arg.size());
    out.append("\r\n");
  }
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

void encode_command(std::span<const std::string_view> args, std::string& out) { encode(args, out); }
void encode_command(std::span<const std::string> args, std::string& out) { encode(args, out); }

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
