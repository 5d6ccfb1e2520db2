#include "baton/lease/lease_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>

namespace baton::lease {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(JsonWriter& json, std::string_view text) {
  json.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void write_key(JsonWriter& json, std::string_view key) {
  json.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

// A string, or null when empty ("unknown" / "no more").
void write_optional(JsonWriter& json, std::string_view text) {
  if (text.empty()) {
    json.Null();
  } else {
    write_string(json, text);
  }
}

void write_lease(JsonWriter& json, const LeaseInfo& info, std::string_view id_name) {
  json.StartObject();
  write_key(json, id_name);
  write_string(json, info.session);
  json.Key("instance");
  write_string(json, info.instance);
  json.Key("request_id");
  write_optional(json, info.request_id);
  json.Key("route");
  write_string(json, info.route);
  json.Key("fence");
  json.Uint64(info.fence);
  json.Key("age_ms");
  json.Int64(info.age.count());
  json.Key("remaining_ms");
  json.Int64(info.remaining.count());
  json.Key("waiters");
  json.Uint64(static_cast<std::uint64_t>(info.waiters));
  json.EndObject();
}

}  // namespace

std::string lease_info_json(const LeaseInfo& info, std::string_view id_name) {
  rapidjson::StringBuffer buffer;
  JsonWriter json(buffer);
  write_lease(json, info, id_name);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string lease_page_json(const LeasePage& page, std::string_view id_name) {
  rapidjson::StringBuffer buffer;
  JsonWriter json(buffer);
  json.StartObject();
  json.Key("leases");
  json.StartArray();
  for (const auto& info : page.leases) write_lease(json, info, id_name);
  json.EndArray();
  json.Key("next_cursor");
  write_optional(json, page.next_cursor);
  json.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace baton::lease
