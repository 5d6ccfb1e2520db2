#include "baton/proxy/access_log.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>

using namespace baton;
using namespace baton::proxy;
using namespace std::chrono_literals;

namespace {

enum class Type { string, number, boolean, string_or_null, number_or_null };

// Every field of the access log and its JSON type, as README.md "Access log" lists them.
const std::map<std::string, Type> documented_fields{
    {"ts", Type::string},           {"instance_id", Type::string},          {"request_id", Type::string},
    {"route", Type::string_or_null}, {"method", Type::string_or_null},      {"path", Type::string_or_null},
    {"session", Type::string_or_null}, {"status", Type::number},            {"lease", Type::string},
    {"wait_ms", Type::number},      {"fence", Type::number_or_null},        {"migrated", Type::boolean},
    {"lease_end", Type::string},    {"upstream_ms", Type::number_or_null},  {"duration_ms", Type::number},
    {"bytes_in", Type::number},     {"bytes_out", Type::number},            {"sse_events", Type::number},
};

bool has_type(const rapidjson::Value& value, Type type) {
  switch (type) {
    case Type::string: return value.IsString();
    case Type::number: return value.IsNumber();
    case Type::boolean: return value.IsBool();
    case Type::string_or_null: return value.IsString() || value.IsNull();
    case Type::number_or_null: return value.IsNumber() || value.IsNull();
  }
  return false;
}

rapidjson::Document parse(const std::string& line) {
  rapidjson::Document document;
  document.Parse(line.data(), line.size());
  REQUIRE_MESSAGE(!document.HasParseError(), "not JSON: ", line);
  REQUIRE(document.IsObject());
  return document;
}

void check_documented_fields(const rapidjson::Document& document) {
  CHECK(document.MemberCount() == documented_fields.size());
  for (const auto& [name, type] : documented_fields) {
    INFO("field ", name);
    REQUIRE(document.HasMember(name.c_str()));
    CHECK(has_type(document[name.c_str()], type));
  }
}

std::string text(const rapidjson::Value& value) { return {value.GetString(), value.GetStringLength()}; }

core::LoggingConfig plain_ids() { return {}; }

core::LoggingConfig hashed_ids(std::string key) {
  core::LoggingConfig config;
  config.session_ids = core::SessionIdLogging::hash;
  config.session_hash_key = std::move(key);
  return config;
}

std::shared_ptr<spdlog::logger> discarding_logger() {
  return std::make_shared<spdlog::logger>("access-test", std::make_shared<spdlog::sinks::null_sink_st>());
}

std::shared_ptr<spdlog::logger> logger_into(std::ostringstream& out) {
  return std::make_shared<spdlog::logger>("access-test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
}

// A leased event stream that went well.
RequestRecord full_record() {
  RequestRecord record;
  record.start_time = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 12h + 34min + 56s + 789ms;
  record.request_id = "req-1";
  record.route = "chat";
  record.method = "POST";
  record.path = "/chat/send";
  record.session = "cart-42";
  record.status = 200;
  record.lease = LeaseDecision::waited;
  record.wait = 1500us;
  record.fence = 1'714'566'896'789'000;
  record.migrated = true;
  record.lease_end = LeaseEnding::done;
  record.upstream = 2250us;
  record.duration = 1234567us;
  record.bytes_in = 17;
  record.bytes_out = 4096;
  record.sse_events = 5;
  return record;
}

}  // namespace

TEST_SUITE("access log") {
  TEST_CASE("a line holds every documented field with its type and value") {
    const AccessLog log(plain_ids(), "web-1", discarding_logger());
    const auto document = parse(log.line(full_record()));
    check_documented_fields(document);
    CHECK(text(document["ts"]) == "2024-05-01T12:34:56.789Z");
    CHECK(text(document["instance_id"]) == "web-1");
    CHECK(text(document["request_id"]) == "req-1");
    CHECK(text(document["route"]) == "chat");
    CHECK(text(document["method"]) == "POST");
    CHECK(text(document["path"]) == "/chat/send");
    CHECK(text(document["session"]) == "cart-42");
    CHECK(document["status"].GetUint() == 200);
    CHECK(text(document["lease"]) == "waited");
    CHECK(document["wait_ms"].GetDouble() == doctest::Approx(1.5));
    CHECK(document["fence"].GetUint64() == 1'714'566'896'789'000);
    CHECK(document["migrated"].GetBool());
    CHECK(text(document["lease_end"]) == "done");
    CHECK(document["upstream_ms"].GetDouble() == doctest::Approx(2.25));
    CHECK(document["duration_ms"].GetDouble() == doctest::Approx(1234.567));
    CHECK(document["bytes_in"].GetUint64() == 17);
    CHECK(document["bytes_out"].GetUint64() == 4096);
    CHECK(document["sse_events"].GetUint64() == 5);
  }

  TEST_CASE("what does not apply is null, and the types stay those documented") {
    const AccessLog log(plain_ids(), "web-1", discarding_logger());
    RequestRecord record;  // a head that could not be read
    record.request_id = "generated";
    record.status = 400;
    const auto document = parse(log.line(record));
    check_documented_fields(document);
    for (const char* name : {"route", "method", "path", "session", "fence", "upstream_ms"}) {
      INFO("field ", name);
      CHECK(document[name].IsNull());
    }
    CHECK(text(document["lease"]) == "none");
    CHECK(text(document["lease_end"]) == "none");
    CHECK(document["wait_ms"].GetDouble() == 0);
    CHECK_FALSE(document["migrated"].GetBool());
  }

  TEST_CASE("every lease decision and ending has its documented name") {
    CHECK(to_string(LeaseDecision::acquired) == "acquired");
    CHECK(to_string(LeaseDecision::waited) == "waited");
    CHECK(to_string(LeaseDecision::busy) == "busy");
    CHECK(to_string(LeaseDecision::too_many_waiters) == "too_many_waiters");
    CHECK(to_string(LeaseDecision::bypassed) == "bypassed");
    CHECK(to_string(LeaseDecision::fail_open) == "fail_open");
    CHECK(to_string(LeaseDecision::backend_down) == "backend_down");
    CHECK(to_string(LeaseDecision::none) == "none");
    CHECK(to_string(LeaseEnding::done) == "done");
    CHECK(to_string(LeaseEnding::end) == "end");
    CHECK(to_string(LeaseEnding::client_gone) == "client_gone");
    CHECK(to_string(LeaseEnding::error) == "error");
    CHECK(to_string(LeaseEnding::lost) == "lost");
    CHECK(to_string(LeaseEnding::max_hold) == "max_hold");
    CHECK(to_string(LeaseEnding::none) == "none");
  }

  TEST_CASE("hostile strings are escaped: one line, valid JSON, the text kept") {
    const AccessLog log(plain_ids(), "web-\"1\"\n", discarding_logger());
    RequestRecord record = full_record();
    const std::string path = "/a\"b\\c\r\nd\te\x01\x1f\x7f/é/\xe2\x82\xac";
    record.path = path;
    record.method = "GE\"T";
    const std::string session = "}\",\"status\":1,\"x\":\"";
    record.session = session;

    const std::string line = log.line(record);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    for (char c : line) CHECK(static_cast<unsigned char>(c) >= 0x20);
    const auto document = parse(line);
    check_documented_fields(document);
    CHECK(text(document["path"]) == path);
    CHECK(text(document["method"]) == "GE\"T");
    CHECK(text(document["session"]) == session);
    CHECK(text(document["instance_id"]) == "web-\"1\"\n");
    CHECK(document["status"].GetUint() == 200);  // not the one the session tried to inject
  }

  TEST_CASE("bytes that are not UTF-8 become U+FFFD, so that the line stays valid JSON") {
    const AccessLog log(plain_ids(), "web-1", discarding_logger());
    RequestRecord record = full_record();
    const std::string path = "/\xff/\xc3/\xc0\xaf/\xed\xa0\x80/\xf4\x90\x80\x80/ok\xc3\xa9";
    record.path = path;
    const std::string line = log.line(record);
    rapidjson::Document document;
    document.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
    REQUIRE_FALSE(document.HasParseError());
    const std::string replacement = "\xef\xbf\xbd";
    // Each byte of an ill-formed sequence (a stray byte, a truncated one, an overlong
    // one, a surrogate, one past U+10FFFF) is replaced; valid text is kept.
    CHECK(text(document["path"]) == "/" + replacement + "/" + replacement + "/" + replacement + replacement + "/" +
                                        replacement + replacement + replacement + "/" + replacement + replacement +
                                        replacement + replacement + "/ok\xc3\xa9");
  }

  TEST_CASE("write() sends the line through the logger with the pattern %v, one per call") {
    std::ostringstream out;
    const AccessLog log(plain_ids(), "web-1", logger_into(out));
    log.write(full_record());
    log.write(full_record());
    const std::string written = out.str();
    const auto first_end = written.find('\n');
    REQUIRE(first_end != std::string::npos);
    CHECK(written.substr(0, first_end) == log.line(full_record()));
    CHECK(written.substr(first_end + 1) == log.line(full_record()) + "\n");
  }

  TEST_CASE("the access logger is named access") {
    CHECK(AccessLog::stdout_logger()->name() == "access");
  }

  TEST_CASE("hash mode logs 16 hex digits of HMAC-SHA256, never the id") {
    // RFC 4231 test case 1: key 0x0b x 20, data "Hi There".
    CHECK(session_hash(std::string(20, '\x0b'), "Hi There") == "b0344c61d8db3853");

    const std::string session = "cart-42-secret";
    const AccessLog log(hashed_ids("key-one"), "web-1", discarding_logger());
    RequestRecord record = full_record();
    record.session = session;
    const std::string line = log.line(record);
    CHECK(line.find(session) == std::string::npos);
    const auto document = parse(line);
    check_documented_fields(document);
    const std::string hashed = text(document["session"]);
    CHECK(hashed == session_hash("key-one", session));
    CHECK(hashed.size() == 16);
    CHECK(hashed.find_first_not_of("0123456789abcdef") == std::string::npos);

    SUBCASE("stable per key, different across keys and sessions") {
      CHECK(parse(log.line(record))["session"] == document["session"]);
      const AccessLog other_key(hashed_ids("key-two"), "web-1", discarding_logger());
      CHECK(text(parse(other_key.line(record))["session"]) != hashed);
      record.session = "cart-43-secret";
      CHECK(text(parse(log.line(record))["session"]) != hashed);
    }
    SUBCASE("no session is null, not the hash of nothing") {
      record.session.clear();
      CHECK(parse(log.line(record))["session"].IsNull());
    }
  }
}
