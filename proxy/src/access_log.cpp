#include "baton/proxy/access_log.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace baton::proxy {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes each message and its line end with one writev(2): no lock is needed, and with
// stdout a pipe or a file opened O_APPEND, lines of several threads never interleave.
// The pattern is always "%v": the message is the whole line.
class LineSink final : public spdlog::sinks::sink {
public:
  explicit LineSink(int fd) : fd_(fd) {}

  void log(const spdlog::details::log_msg& message) override {
    static const char line_end = '\n';
    std::array<iovec, 2> parts{iovec{const_cast<char*>(message.payload.data()), message.payload.size()},
                               iovec{const_cast<char*>(&line_end), 1}};
    std::size_t at = 0;
    while (at < parts.size()) {
      const ssize_t written = ::writev(fd_, &parts[at], static_cast<int>(parts.size() - at));
      if (written < 0) {
        if (errno == EINTR) continue;
        return;  // nowhere to report it: the log is the report
      }
      // A short write (a full pipe, a signal) goes on where it stopped.
      auto left = static_cast<std::size_t>(written);
      while (at < parts.size() && left >= parts[at].iov_len) left -= parts[at++].iov_len;
      if (at < parts.size()) {
        parts[at].iov_base = static_cast<char*>(parts[at].iov_base) + left;
        parts[at].iov_len -= left;
      }
    }
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

private:
  int fd_;
};

// The length of the well-formed UTF-8 sequence at text[at], 0 when there is none.
std::size_t utf8_sequence(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code = 0;
  std::uint32_t smallest = 0;
  if ((lead & 0xe0) == 0xc0) {
    length = 2, code = lead & 0x1f, smallest = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, code = lead & 0x0f, smallest = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, code = lead & 0x07, smallest = 0x10000;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[at + i]);
    if ((next & 0xc0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3f);
  }
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  return code < smallest || code > 0x10ffff || surrogate ? 0 : length;
}

// A JSON string. The writer escapes quotes, backslashes and control characters; bytes
// that are not UTF-8 (a path can hold any) become U+FFFD, so the line stays valid JSON.
void string(Writer& json, std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t length = utf8_sequence(text, at);
    if (length == 0) break;
    at += length;
  }
  if (at == text.size()) {
    json.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  std::string repaired(text.substr(0, at));
  while (at < text.size()) {
    const std::size_t length = utf8_sequence(text, at);
    if (length == 0) {
      repaired.append("\xef\xbf\xbd");
      ++at;
    } else {
      repaired.append(text.substr(at, length));
      at += length;
    }
  }
  json.String(repaired.data(), static_cast<rapidjson::SizeType>(repaired.size()));
}

void string_or_null(Writer& json, std::string_view text) {
  if (text.empty())
    json.Null();
  else
    string(json, text);
}

void milliseconds(Writer& json, std::chrono::nanoseconds elapsed) {
  json.Double(std::chrono::duration<double, std::milli>(elapsed).count());
}

// RFC 3339, UTC, milliseconds: 2024-05-01T12:34:56.789Z. Calendar arithmetic, not
// gmtime_r, which takes glibc's time zone lock.
void timestamp(Writer& json, std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto in_ms = floor<std::chrono::milliseconds>(time);
  const auto day = floor<days>(in_ms);
  const year_month_day date{day};
  const hh_mm_ss clock{in_ms - day};
  char text[32];
  const int length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(date.year()),
                                   unsigned(date.month()), unsigned(date.day()), int(clock.hours().count()),
                                   int(clock.minutes().count()), int(clock.seconds().count()),
                                   int(clock.subseconds().count()));
  json.String(text, static_cast<rapidjson::SizeType>(length));
}

constexpr std::string_view hex_digits = "0123456789abcdef";

}  // namespace

// Each hash starts from a copy of the keyed state: the threads share it without a lock,
// and no hash fetches the algorithm from OpenSSL's provider store again.
SessionHasher::SessionHasher(std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  keyed_ = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  const auto* key_bytes = reinterpret_cast<const unsigned char*>(key.data());
  if (keyed_ == nullptr || EVP_MAC_init(keyed_, key_bytes, key.size(), params) != 1) {
    EVP_MAC_CTX_free(keyed_);
    throw std::runtime_error("cannot set up HMAC-SHA256 for logging.session_ids: hash");
  }
}

SessionHasher::~SessionHasher() { EVP_MAC_CTX_free(keyed_); }

bool SessionHasher::hash(std::string_view session, Hash& out) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  std::size_t size = 0;
  EVP_MAC_CTX* context = EVP_MAC_CTX_dup(keyed_);
  const bool ok =
      context != nullptr &&
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(session.data()), session.size()) == 1 &&
      EVP_MAC_final(context, digest.data(), &size, digest.size()) == 1 && size >= out.size() / 2;
  EVP_MAC_CTX_free(context);
  if (!ok) return false;
  for (std::size_t i = 0; i < out.size() / 2; ++i) {
    out[2 * i] = hex_digits[digest[i] >> 4];
    out[2 * i + 1] = hex_digits[digest[i] & 0xf];
  }
  return true;
}

std::string session_hash(std::string_view key, std::string_view session) {
  SessionHasher::Hash hash;
  return SessionHasher(key).hash(session, hash) ? std::string(hash.data(), hash.size()) : std::string();
}

std::shared_ptr<spdlog::logger> AccessLog::stdout_logger() {
  return std::make_shared<spdlog::logger>("access", std::make_shared<LineSink>(STDOUT_FILENO));
}

AccessLog::AccessLog(const core::LoggingConfig& config, std::string instance_id,
                     std::shared_ptr<spdlog::logger> logger)
    : instance_id_(std::move(instance_id)), logger_(std::move(logger)) {
  if (config.session_ids == core::SessionIdLogging::hash)
    hasher_ = std::make_unique<SessionHasher>(config.session_hash_key);
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
}

AccessLog::~AccessLog() = default;

void AccessLog::format(const RequestRecord& record, rapidjson::StringBuffer& out) const {
  Writer json(out);
  json.SetMaxDecimalPlaces(3);
  json.StartObject();
  json.Key("ts");
  timestamp(json, record.start_time);
  json.Key("instance_id");
  string(json, instance_id_);
  json.Key("request_id");
  string(json, record.request_id);
  json.Key("route");
  string_or_null(json, record.route);
  json.Key("method");
  string_or_null(json, record.method);
  json.Key("path");
  string_or_null(json, record.path);
  json.Key("session");
  if (hasher_) {
    SessionHasher::Hash hash;
    const bool hashed = !record.session.empty() && hasher_->hash(record.session, hash);
    string_or_null(json, hashed ? std::string_view(hash.data(), hash.size()) : std::string_view());
  } else {
    string_or_null(json, record.session);
  }
  json.Key("status");
  json.Uint(record.status);
  json.Key("lease");
  string(json, to_string(record.lease));
  json.Key("wait_ms");
  milliseconds(json, record.wait);
  json.Key("fence");
  if (record.fence != 0)
    json.Uint64(record.fence);
  else
    json.Null();
  json.Key("migrated");
  json.Bool(record.migrated);
  json.Key("lease_end");
  string(json, to_string(record.lease_end));
  json.Key("upstream_ms");
  if (record.upstream)
    milliseconds(json, *record.upstream);
  else
    json.Null();
  json.Key("duration_ms");
  milliseconds(json, record.duration);
  json.Key("bytes_in");
  json.Uint64(record.bytes_in);
  json.Key("bytes_out");
  json.Uint64(record.bytes_out);
  json.Key("sse_events");
  json.Uint64(record.sse_events);
  json.EndObject();
}

void AccessLog::write(const RequestRecord& record) const {
  // One buffer per thread, kept between requests: a line costs no allocation.
  thread_local rapidjson::StringBuffer buffer;
  buffer.Clear();
  format(record, buffer);
  logger_->log(spdlog::level::info, spdlog::string_view_t(buffer.GetString(), buffer.GetSize()));
}

std::string AccessLog::line(const RequestRecord& record) const {
  rapidjson::StringBuffer buffer;
  format(record, buffer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace baton::proxy
