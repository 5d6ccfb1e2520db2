#include "redis/subscriptions.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

struct Watcher {
  int id;
};

using Table = baton::redis::Subscriptions<Watcher>;

bool has(const std::vector<Watcher*>& watchers, const Watcher& watcher) {
  return std::find(watchers.begin(), watchers.end(), &watcher) != watchers.end();
}

}  // namespace

TEST_SUITE("redis subscriptions") {
  TEST_CASE("the first watcher subscribes and the channel is live once Redis confirms") {
    Table table;
    CHECK(table.connected().empty());
    Watcher a{1};
    Watcher b{2};
    CHECK(table.join("ch", &a));
    CHECK_FALSE(table.active("ch"));
    CHECK_FALSE(table.join("ch", &b));  // the SUBSCRIBE in flight serves both
    CHECK(table.unconfirmed() == 1);
    CHECK(table.confirm("ch"));
    CHECK(table.active("ch"));
    CHECK(table.unconfirmed() == 0);
    CHECK(has(table.watchers("ch"), a));
    CHECK(has(table.watchers("ch"), b));
  }

  TEST_CASE("the last watcher to leave unsubscribes and its confirmation forgets the channel") {
    Table table;
    table.connected();
    Watcher a{1};
    Watcher b{2};
    table.join("ch", &a);
    table.join("ch", &b);
    table.confirm("ch");
    CHECK_FALSE(table.leave("ch", &a));
    CHECK(table.leave("ch", &b));
    CHECK_FALSE(table.active("ch"));
    CHECK_FALSE(table.confirm("ch"));
    CHECK(table.channel_count() == 0);
  }

  TEST_CASE("a watcher joining while the UNSUBSCRIBE is in flight subscribes again") {
    Table table;
    table.connected();
    Watcher a{1};
    Watcher b{2};
    table.join("ch", &a);
    table.confirm("ch");
    CHECK(table.leave("ch", &a));
    CHECK(table.join("ch", &b));
    // The UNSUBSCRIBE's confirmation comes first: the channel is not live yet.
    CHECK_FALSE(table.confirm("ch"));
    CHECK_FALSE(table.active("ch"));
    CHECK(table.confirm("ch"));
    CHECK(table.active("ch"));
  }

  TEST_CASE("a watcher that gave up before the confirmation is forgotten with its channel") {
    Table table;
    table.connected();
    Watcher a{1};
    table.join("ch", &a);
    CHECK(table.leave("ch", &a));
    CHECK(table.unconfirmed() == 2);
    CHECK_FALSE(table.confirm("ch"));
    CHECK_FALSE(table.confirm("ch"));
    CHECK(table.channel_count() == 0);
    CHECK(table.unconfirmed() == 0);
  }

  TEST_CASE("after a reconnection every channel with watchers is subscribed again") {
    Table table;
    table.connected();
    Watcher a{1};
    Watcher b{2};
    Watcher c{3};
    table.join("one", &a);
    table.join("two", &b);
    table.join("three", &c);
    table.confirm("one");
    table.confirm("two");
    table.leave("three", &c);
    table.disconnected();
    CHECK_FALSE(table.active("one"));
    CHECK(table.unconfirmed() == 0);
    // Leaving while disconnected sends nothing.
    CHECK_FALSE(table.leave("two", &b));

    auto channels = table.connected();
    CHECK(channels == std::vector<std::string>{"one"});
    CHECK(table.unconfirmed() == 1);
    CHECK(table.confirm("one"));
    CHECK(table.active("one"));
  }

  TEST_CASE("confirmations of unknown channels are ignored") {
    Table table;
    table.connected();
    CHECK_FALSE(table.confirm("nobody"));
    CHECK(table.watchers("nobody").empty());
  }

  TEST_CASE("for_each_watcher visits every watcher of every channel") {
    Table table;
    table.connected();
    Watcher a{1};
    Watcher b{2};
    table.join("one", &a);
    table.join("two", &b);
    int sum = 0;
    table.for_each_watcher([&](Watcher& watcher) { sum += watcher.id; });
    CHECK(sum == 3);
  }
}
