// Feeds an SSE stream to the scanner in pieces and collects what it said: shared by the
// scanner's unit tests and its fuzz target, which assert on the result each their way.
#pragma once

#include "baton/proxy/sse_scanner.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::test {

struct SseOutcome {
  std::optional<std::size_t> done_end;  // absolute position in the stream
  std::uint64_t events = 0;
  bool done_seen = false;
  std::string broken;  // the first answer that broke the scanner's contract, if any
};

// Feeds the pieces between `cuts` (ascending positions), checking after each piece that
// an offset lies within it, that done is reported once, and that done_seen() agrees.
inline SseOutcome scan_in_pieces(const core::SseDone& done, std::size_t max_event_bytes, std::string_view stream,
                                 const std::vector<std::size_t>& cuts) {
  proxy::SseScanner scanner(done, max_event_bytes);
  SseOutcome outcome;
  std::size_t start = 0;
  auto feed_up_to = [&](std::size_t end) {
    const auto piece = stream.substr(start, end - start);
    if (const auto offset = scanner.feed(piece)) {
      if (*offset > piece.size() && outcome.broken.empty()) outcome.broken = "offset past its piece";
      if (outcome.done_end && outcome.broken.empty()) outcome.broken = "done reported twice";
      outcome.done_end = start + *offset;
    }
    if (scanner.done_seen() != outcome.done_end.has_value() && outcome.broken.empty())
      outcome.broken = "done_seen() disagrees with the offsets reported";
    start = end;
  };
  for (const auto cut : cuts) feed_up_to(cut);
  feed_up_to(stream.size());
  outcome.events = scanner.events();
  outcome.done_seen = scanner.done_seen();
  return outcome;
}

// Where done ends when the stream arrives cut at `cuts`, given where it ends whole: a CR
// ends a line at once, so a cut between the CR and LF of the blank line that ends the
// done event reports the end of the CR (the scanner never waits for an LF that may not come).
inline std::optional<std::size_t> done_end_with_cuts(std::string_view stream, std::optional<std::size_t> whole_end,
                                                      const std::vector<std::size_t>& cuts) {
  if (!whole_end || *whole_end < 2) return whole_end;
  const auto lf = *whole_end - 1;
  const bool ends_with_crlf = stream[lf] == '\n' && stream[lf - 1] == '\r';
  const bool cut_inside = std::find(cuts.begin(), cuts.end(), lf) != cuts.end();
  return ends_with_crlf && cut_inside ? std::optional<std::size_t>(lf) : whole_end;
}

}  // namespace baton::test
