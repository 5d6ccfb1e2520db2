#include "baton/redis/resp.hpp"

#include "baton/redis/error.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <new>

namespace baton::redis {
namespace {

// Commands of baton have a handful of arguments; more go to the heap.
constexpr std::size_t inline_args = 16;

template <class Text>
void encode(std::span<const Text> args, std::string& out) {
  std::array<const char*, inline_args> inline_argv;
  std::array<std::size_t, inline_args> inline_lengths;
  std::vector<const char*> heap_argv;
  std::vector<std::size_t> heap_lengths;
  const char** argv = inline_argv.data();
  std::size_t* lengths = inline_lengths.data();
  if (args.size() > inline_args) {
    heap_argv.resize(args.size());
    heap_lengths.resize(args.size());
    argv = heap_argv.data();
    lengths = heap_lengths.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  // The sds variant formats lengths with hiredis's own integer formatter; the plain one
  // calls sprintf for every argument, a measurable share of a leased request.
  sds command = nullptr;
  const int length = redisFormatSdsCommandArgv(&command, static_cast<int>(args.size()), argv, lengths);
  if (length < 0) throw std::bad_alloc();  // hiredis fails only when malloc does
  out.append(command, static_cast<std::size_t>(length));
  redisFreeSdsCommand(command);
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
