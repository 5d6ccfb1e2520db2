#include "baton/proxy/error_response.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace baton::proxy {
namespace {

std::string error_json(const ErrorReply& reply, std::string_view request_id) {
  rapidjson::StringBuffer text;
  rapidjson::Writer<rapidjson::StringBuffer> json(text);
  json.StartObject();
  json.Key("error");
  json.String(reply.code.data(), static_cast<rapidjson::SizeType>(reply.code.size()));
  json.Key("message");
  json.String(reply.message.data(), static_cast<rapidjson::SizeType>(reply.message.size()));
  json.Key("request_id");
  json.String(request_id.data(), static_cast<rapidjson::SizeType>(request_id.size()));
  if (reply.retry_after != 0) {
    json.Key("retry_after_s");
    json.Uint(reply.retry_after);
  }
  if (reply.waited_ms) {
    json.Key("waited_ms");
    json.Int64(*reply.waited_ms);
  }
  if (reply.position) {
    json.Key("position");
    json.Int64(*reply.position);
  }
  json.EndObject();
  return std::string(text.GetString(), text.GetSize());
}

}  // namespace

http::response<http::string_body> make_error_response(const ErrorReply& reply,
                                                      std::string_view request_id,
                                                      bool keep_alive) {
  http::response<http::string_body> response{reply.status, 11};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.set("X-Request-Id", request_id);
  if (reply.retry_after != 0) response.set(http::field::retry_after, std::to_string(reply.retry_after));
  response.body() = error_json(reply, request_id);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

}  // namespace baton::proxy
