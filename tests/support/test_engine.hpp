// An in-process HTTP/1.1 engine on a loopback port: the "real engine" that relay tests
// put behind baton-proxy. It runs its own io_context on its own thread.
//
// Routes (keep-alive honoured on all of them):
//   /echo                 JSON {method, target, headers: [[name, value], ...] as received,
//                         body_length}; also the answer to any path not listed here
//   /upload               reads the whole body; JSON {length, fnv1a64: "<16 hex digits>"}
//   /large?bytes=N        chunked response of N bytes, byte i = large_body_byte(i)
//   /sse?events=N&hold=1&pad=B
//                         text/event-stream: N events "event: token\ndata: k\n\n" (k = 1..N),
//                         then "event: done". linger=1 keeps the stream open after done
//                         until end_lingering_streams(). hold=1 waits after the first event until
//                         release_hold(); pad=B prefixes each token event with a B-byte
//                         SSE comment line (to make long streams)
//   /slow?ms=M            waits M ms before the response head
//   /connections          JSON {connections}: TCP connections accepted so far
//   /hop-by-hop           a response carrying hop-by-hop fields (Connection naming
//                         X-Engine-Secret, Keep-Alive, Proxy-Connection) and an
//                         end-to-end X-Engine-Visible: yes
//   /ws                   WebSocket echo (text and binary)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::test {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A request head as the engine received it.
struct ReceivedRequest {
  std::string method;
  std::string target;
  HeaderList headers;  // in arrival order, names as spelled on the wire

  // Every value of the field (name compared case-insensitively), in order.
  std::vector<std::string> values(std::string_view name) const;
  // The values joined with ", " (RFC 9110 5.3); nullopt when the field is absent.
  std::optional<std::string> value(std::string_view name) const;
};

class TestEngine {
public:
  TestEngine();  // listening on 127.0.0.1:<free port> when it returns
  ~TestEngine();
  TestEngine(const TestEngine&) = delete;
  TestEngine& operator=(const TestEngine&) = delete;

  std::uint16_t port() const;

  // Lets every /sse?hold=1 stream, current and future, go on past its first event.
  void release_hold();

  // Ends every /sse?linger=1 stream, current and future: those stay open after their done
  // event (with one comment line) until this is called.
  void end_lingering_streams();

  std::size_t connections_accepted() const;

  // Targets of every request head received so far, in order; a head counts as soon as it
  // is parsed, before its body is read.
  std::vector<std::string> received_targets() const;

  // The most recent request head; empty before the first request.
  ReceivedRequest last_request() const;

private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The deterministic content of /large: byte i of the body.
inline char large_body_byte(std::uint64_t i) { return static_cast<char>((i * 31 + 7) & 0xff); }

// FNV-1a 64-bit, as 16 lower-case hex digits: the checksum /upload answers.
std::string fnv1a64_hex(std::string_view data);

}  // namespace baton::test
