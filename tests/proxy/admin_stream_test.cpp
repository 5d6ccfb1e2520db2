#include "baton/proxy/admin_stream.hpp"

#include <doctest/doctest.h>

namespace baton::proxy {

TEST_SUITE("admin stream") {
  TEST_CASE("sse_event: a data field per line, whatever the line break; then a blank line") {
    CHECK(sse_event("leases", R"({"leases":[]})") == "event: leases\ndata: {\"leases\":[]}\n\n");
    CHECK(sse_event("note", "one\ntwo\r\nthree\rfour") ==
          "event: note\ndata: one\ndata: two\ndata: three\ndata: four\n\n");
    CHECK(sse_event("empty", "") == "event: empty\ndata: \n\n");
    CHECK(sse_comment("keep-alive") == ": keep-alive\n\n");
  }

  TEST_CASE("stream slots: taken up to the capacity, given back when a slot ends or is moved over") {
    StreamSlots slots(2);
    auto first = slots.take();
    auto second = slots.take();
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK(!slots.take().has_value());
    CHECK(slots.in_use() == 2);

    StreamSlots::Slot moved = std::move(*first);
    first.reset();  // a moved-from slot gives nothing back
    CHECK(slots.in_use() == 2);
    moved = std::move(*second);  // the slot moved over is given back
    CHECK(slots.in_use() == 1);
    second.reset();
    CHECK(slots.in_use() == 1);
    {
      StreamSlots::Slot gone = std::move(moved);
    }
    CHECK(slots.in_use() == 0);
    CHECK(slots.take().has_value());
  }
}

}  // namespace baton::proxy
