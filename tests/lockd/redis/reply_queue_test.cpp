#include "redis/reply_queue.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace {

struct Waiter {
  int id;
  int dropped = 0;
};

using Queue = baton::redis::ReplyQueue<Waiter>;

}  // namespace

TEST_SUITE("redis reply queue") {
  TEST_CASE("replies go to their waiters in the order the commands were queued") {
    Queue queue;
    Waiter a{1};
    Waiter b{2};
    queue.push(&a);
    queue.push(&b, 2);
    CHECK(queue.size() == 3);
    CHECK(queue.pop() == &a);
    CHECK(queue.pop() == &b);
    CHECK(queue.pop() == &b);
    CHECK(queue.empty());
    CHECK(queue.pop() == nullptr);  // a reply nobody asked for
  }

  TEST_CASE("an abandoned slot keeps its place so a late reply is dropped rather than misdelivered") {
    Queue queue;
    Waiter slow{1};
    Waiter next{2};
    const auto first = queue.push(&slow, 2);
    queue.push(&next);
    queue.abandon(first, 2);
    CHECK(queue.pop() == nullptr);
    CHECK(queue.pop() == nullptr);
    CHECK(queue.pop() == &next);
  }

  TEST_CASE("abandoning replies already read or of an earlier connection touches nothing") {
    Queue queue;
    Waiter a{1};
    Waiter b{2};
    const auto old = queue.push(&a);
    queue.clear([](Waiter&) {});
    queue.push(&b);
    queue.abandon(old, 1);
    CHECK(queue.pop() == &b);
  }

  TEST_CASE("clear tells each waiter once and skips abandoned slots") {
    Queue queue;
    Waiter a{1};
    Waiter b{2};
    Waiter c{3};
    queue.push(&a, 3);
    const auto gone = queue.push(&b);
    queue.push(&c);
    queue.abandon(gone, 1);
    std::vector<int> told;
    queue.clear([&](Waiter& waiter) { told.push_back(waiter.id); });
    CHECK(told == std::vector<int>{1, 3});
    CHECK(queue.empty());
  }
}
