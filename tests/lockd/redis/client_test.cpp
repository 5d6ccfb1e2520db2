// The Redis client and subscriber against a real redis-server on a private port.
#include "baton/redis/client.hpp"

#include "support/redis_server.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace baton;
using namespace baton::redis;
using namespace std::chrono_literals;
using baton::test::RedisServer;
using baton::test::RedisServerOptions;
using Clock = std::chrono::steady_clock;

// No keys or arguments, for the eval() that takes views.
constexpr std::span<const std::string_view> no_views;

// Runs the io_context until `done` holds; false at the time limit.
bool run_until(net::io_context& io, std::chrono::milliseconds limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    if (io.run_one_for(10ms) == 0 && io.stopped()) std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A coroutine started on the io_context, and what it gave back once it is done.
template <class T>
struct Task {
  std::optional<T> value;
  std::exception_ptr error;
  bool done() const { return value.has_value() || error != nullptr; }
  T get() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <class T>
std::shared_ptr<Task<T>> spawn(net::io_context& io, Awaitable<T> awaitable) {
  auto task = std::make_shared<Task<T>>();
  net::co_spawn(io.get_executor(), std::move(awaitable), [task](std::exception_ptr error, T value) {
    if (error)
      task->error = error;
    else
      task->value = std::move(value);
  });
  return task;
}

// Runs `awaitable` to its end; fails the test after `limit`.
template <class T>
T run(net::io_context& io, Awaitable<T> awaitable, std::chrono::milliseconds limit = 10s) {
  auto task = spawn(io, std::move(awaitable));
  REQUIRE_MESSAGE(run_until(io, limit, [&] { return task->done(); }), "still running after ", limit.count(), " ms");
  return task->get();
}

ClientOptions options_for(const std::string& url) {
  ClientOptions options;
  options.url = core::parse_redis_url(url);
  options.connect_timeout = 2s;
  options.command_timeout = 2s;
  options.backoff_min = 20ms;
  options.backoff_max = 200ms;
  options.name = "baton-test";
  return options;
}

// A started client, connected once this returns.
template <class Connection>
void start_and_connect(net::io_context& io, Connection& connection) {
  connection.start();
  REQUIRE_MESSAGE(run_until(io, 10s, [&] { return connection.connected(); }), "never connected");
}

std::string text(const Result& result) {
  INFO("error: ", result.error.message(), ", reply: ", result.reply.text);
  REQUIRE_FALSE(result.error);
  return result.reply.text;
}

long long integer(const Result& result) {
  INFO("error: ", result.error.message(), ", reply: ", result.reply.text);
  REQUIRE_FALSE(result.error);
  REQUIRE(result.reply.type == Reply::Type::integer);
  return result.reply.integer;
}

// INFO's blocked_clients: commands such as BLPOP that the server holds.
long long blocked_clients(RedisServer& server) {
  const auto info = server.command({"INFO", "clients"}).text;
  const auto at = info.find("blocked_clients:");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + std::string_view("blocked_clients:").size()));
}

long long subscribers_of(RedisServer& server, const std::string& channel) {
  const auto reply = server.command({"PUBSUB", "NUMSUB", channel});
  REQUIRE(reply.elements.size() == 2);
  return reply.elements[1].integer;
}

}  // namespace

TEST_SUITE("redis client") {
  TEST_CASE("a command round trip with every kind of reply") {
    RedisServer server;
    net::io_context io;
    Client client(io.get_executor(), options_for(server.url()));
    start_and_connect(io, client);

    const auto set = run(io, client.command({"SET", "key", std::string("v\r\n\0", 4)}));
    CHECK(set.reply.type == Reply::Type::status);
    CHECK(text(set) == "OK");
    CHECK(text(run(io, client.command({"GET", "key"}))) == std::string("v\r\n\0", 4));
    const auto missing = run(io, client.command({"GET", "missing"}));
    CHECK_FALSE(missing.error);
    CHECK(missing.reply.is_nil());
    CHECK(integer(run(io, client.command({"INCR", "counter"}))) == 1);

    const auto wrong = run(io, client.command({"INCR", "key"}));
    CHECK(wrong.error == Error::server);
    CHECK(wrong.reply.is_error("ERR"));

    CHECK(text(run(io, client.command({"CLIENT", "GETNAME"}))) == "baton-test");
  }

  TEST_CASE("1000 commands in flight at once get their own replies in order") {
    RedisServer server;
    net::io_context io;
    Client client(io.get_executor(), options_for(server.url()));
    start_and_connect(io, client);

    std::vector<std::shared_ptr<Task<Result>>> tasks;
    for (int i = 0; i < 1000; ++i) tasks.push_back(spawn(io, client.command({"RPUSH", "order", std::to_string(i)})));
    REQUIRE(run_until(io, 10s, [&] { return std::all_of(tasks.begin(), tasks.end(), [](auto& t) { return t->done(); }); }));
    for (int i = 0; i < 1000; ++i) {
      CAPTURE(i);
      CHECK(integer(tasks[i]->get()) == i + 1);  // RPUSH answers the list's length
    }

    std::vector<std::vector<std::string>> commands;
    for (int i = 0; i < 1000; ++i) commands.push_back({"LINDEX", "order", std::to_string(i)});
    const auto results = run(io, client.pipeline(commands));
    REQUIRE(results.size() == 1000);
    for (int i = 0; i < 1000; ++i) {
      CAPTURE(i);
      CHECK(text(results[i]) == std::to_string(i));
    }
  }

  TEST_CASE("a paused server makes commands time out and after it resumes late replies are dropped") {
    RedisServer server;
    net::io_context io;
    auto options = options_for(server.url());
    options.command_timeout = 300ms;
    Client client(io.get_executor(), options);
    start_and_connect(io, client);

    server.pause();
    const auto late = run(io, client.command({"ECHO", "late"}));
    CHECK(late.error == Error::timeout);
    const auto batch = run(io, client.pipeline({{"ECHO", "late 1"}, {"ECHO", "late 2"}}));
    CHECK(batch[0].error == Error::timeout);
    CHECK(batch[1].error == Error::timeout);
    server.resume();

    // The connection survived the pause: the next reply is this command's, not a late one.
    const auto fresh = run(io, client.command({"ECHO", "fresh"}));
    CHECK(text(fresh) == "fresh");
    CHECK(client.connected());
  }

  TEST_CASE("a server that stays silent past the stall timeout is given up and reconnected") {
    RedisServer server;
    net::io_context io;
    auto options = options_for(server.url());
    options.command_timeout = 200ms;
    options.stall_timeout = 500ms;
    int connections = 0;
    Client client(io.get_executor(), options);
    client.on_connected([&] { ++connections; });
    start_and_connect(io, client);
    CHECK(connections == 1);

    server.pause();
    CHECK(run(io, client.command({"PING"})).error == Error::timeout);
    CHECK(run_until(io, 5s, [&] { return !client.connected(); }));
    server.resume();
    CHECK(run_until(io, 10s, [&] { return client.connected(); }));
    CHECK(text(run(io, client.command({"ECHO", "back"}))) == "back");
    CHECK(connections == 2);
  }

  TEST_CASE("a dropped connection ends the pending commands with unreachable and reconnects") {
    RedisServer server;
    net::io_context io;
    auto options = options_for(server.url());
    options.command_timeout = 30s;
    int connections = 0;
    Client client(io.get_executor(), options);
    client.on_connected([&] { ++connections; });
    start_and_connect(io, client);

    auto blocked = spawn(io, client.command({"BLPOP", "nothing", "0"}));
    io.poll();
    REQUIRE(run_until(io, 5s, [&] { return blocked_clients(server) == 1; }));
    server.command({"CLIENT", "KILL", "TYPE", "normal"});  // every client but this one
    REQUIRE(run_until(io, 5s, [&] { return blocked->done(); }));  // far sooner than 30 s
    CHECK(blocked->get().error == Error::unreachable);

    CHECK(run_until(io, 5s, [&] { return connections == 2; }));
    CHECK(text(run(io, client.command({"ECHO", "again"}))) == "again");
  }

  TEST_CASE("a stopped server gives unreachable at once and once restarted on its port the client is back by itself") {
    RedisServer server;
    net::io_context io;
    auto options = options_for(server.url());
    options.command_timeout = 30s;
    Client client(io.get_executor(), options);
    start_and_connect(io, client);
    CHECK(text(run(io, client.command({"SET", "k", "before"}))) == "OK");

    server.stop(RedisServer::Data::keep);
    REQUIRE(run_until(io, 5s, [&] { return !client.connected(); }));
    // Without a connection there is no waiting: far below the 30 s command timeout.
    CHECK(run(io, client.command({"GET", "k"}), 2s).error == Error::unreachable);
    CHECK(run(io, client.pipeline({{"GET", "k"}, {"GET", "k"}}), 2s)[1].error == Error::unreachable);

    server.start();
    REQUIRE(run_until(io, 10s, [&] { return client.connected(); }));
    CHECK(text(run(io, client.command({"GET", "k"}))) == "before");
  }

  TEST_CASE("post writes without waiting, in order, and keeps what it got while disconnected for the next connection") {
    RedisServer server;
    net::io_context io;
    Client client(io.get_executor(), options_for(server.url()));
    start_and_connect(io, client);
    client.post({{"SET", "posted", "1"}, {"APPEND", "posted", "2"}});
    CHECK(text(run(io, client.command({"GET", "posted"}))) == "12");  // after the posted ones

    server.stop(RedisServer::Data::keep);
    REQUIRE(run_until(io, 5s, [&] { return !client.connected(); }));
    for (std::size_t i = 0; i < Client::max_posted_commands + 10; ++i) client.post({{"INCR", "while-down"}});
    server.start();
    REQUIRE(run_until(io, 10s, [&] { return client.connected(); }));
    // The oldest ten were dropped: the bound holds.
    CHECK(text(run(io, client.command({"GET", "while-down"}))) == std::to_string(Client::max_posted_commands));
    CHECK(text(run(io, client.command({"ECHO", "in step"}))) == "in step");  // no reply left over
  }

  TEST_CASE("stop ends pending commands with unreachable and stays stopped") {
    RedisServer server;
    net::io_context io;
    auto options = options_for(server.url());
    options.command_timeout = 30s;
    Client client(io.get_executor(), options);
    start_and_connect(io, client);

    auto blocked = spawn(io, client.command({"BLPOP", "nothing", "0"}));
    io.poll();
    client.stop();
    REQUIRE(run_until(io, 5s, [&] { return blocked->done(); }));
    CHECK(blocked->get().error == Error::unreachable);
    CHECK_FALSE(client.connected());
    CHECK_FALSE(run_until(io, 300ms, [&] { return client.connected(); }));
  }

  TEST_CASE("eval runs a script by EVALSHA and reloads it after SCRIPT FLUSH and reports script errors") {
    RedisServer server;
    net::io_context io;
    Client client(io.get_executor(), options_for(server.url()));
    start_and_connect(io, client);

    const Script add("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    CHECK(text(run(io, client.command({"SCRIPT", "LOAD", add.source}))) == add.sha1);
    CHECK(integer(run(io, client.eval(add, {"n"}, {"10"}))) == 10);

    server.command({"SCRIPT", "FLUSH"});
    CHECK(integer(run(io, client.eval(add, {"n"}, {"5"}))) == 15);
    CHECK(server.command({"SCRIPT", "EXISTS", add.sha1}).elements.at(0).integer == 1);

    const Script fails("return redis.call('INCR', KEYS[1])");
    server.command({"SET", "text", "not a number"});
    const auto failed = run(io, client.eval(fails, {"text"}, {}));
    CHECK(failed.error == Error::script);
    CHECK(failed.reply.is_error());

    const Script raises("return redis.error_reply('CUSTOM went wrong')");
    const auto raised = run(io, client.eval(raises, no_views, no_views));
    CHECK(raised.error == Error::script);
    CHECK(raised.reply.is_error("CUSTOM"));

    const Script broken("return (");
    const auto not_compiled = run(io, client.eval(broken, no_views, no_views));
    CHECK(not_compiled.error == Error::script);
    CHECK(not_compiled.reply.text.find("compiling") != std::string::npos);
  }

  TEST_CASE("AUTH with an ACL user") {
    RedisServer server({.args = {"--user", "alice", "on", ">secret", "~*", "&*", "+@all"}});
    net::io_context io;
    auto url = server.url();
    url.insert(url.find("//") + 2, "alice:secret@");
    Client client(io.get_executor(), options_for(url));
    start_and_connect(io, client);
    CHECK(text(run(io, client.command({"ACL", "WHOAMI"}))) == "alice");
  }

  TEST_CASE("AUTH with a password only") {
    RedisServer server({.password = "s3cret"});
    net::io_context io;
    auto url = server.url();
    url.insert(url.find("//") + 2, ":s3cret@");
    Client client(io.get_executor(), options_for(url));
    start_and_connect(io, client);
    CHECK(text(run(io, client.command({"ACL", "WHOAMI"}))) == "default");
  }

  TEST_CASE("a wrong password gives Error::auth and the client retries with backoff") {
    RedisServer server({.args = {"--user", "alice", "on", ">secret", "~*", "&*", "+@all"}});
    net::io_context io;
    auto url = server.url();
    url.insert(url.find("//") + 2, "alice:wrong@");
    auto options = options_for(url);
    const auto started = Clock::now();
    Client client(io.get_executor(), options);
    client.start();

    // The server counts failed AUTHs in its ACL log.
    const auto failed_auths = [&] {
      const auto log = server.command({"ACL", "LOG"});
      for (const auto& entry : log.elements)
        for (std::size_t i = 0; i + 1 < entry.elements.size(); i += 2)
          if (entry.elements[i].text == "count") return entry.elements[i + 1].integer;
      return 0LL;
    };
    REQUIRE(run_until(io, 10s, [&] { return failed_auths() >= 3; }));
    const auto elapsed = Clock::now() - started;
    CHECK_FALSE(client.connected());
    CHECK(run(io, client.command({"PING"})).error == Error::auth);
    // Every attempt after the first waits at least backoff_min: no spinning.
    CHECK(failed_auths() <= elapsed / options.backoff_min + 2);
  }

  TEST_CASE("the database comes from the URL and one that does not exist is refused") {
    RedisServer server;
    net::io_context io;
    Client client(io.get_executor(), options_for(server.url(3)));
    start_and_connect(io, client);
    CHECK(text(run(io, client.command({"SET", "where", "three"}))) == "OK");
    CHECK(server.command({"GET", "where"}, 3).text == "three");
    CHECK(server.command({"GET", "where"}).is_nil());

    Client nowhere(io.get_executor(), options_for(server.url(99)));
    nowhere.start();
    REQUIRE(run_until(io, 10s, [&] { return run(io, nowhere.command({"PING"})).error == Error::auth; }));
  }

  TEST_CASE("TLS: rediss:// with the test CA and SNI and name verification") {
    RedisServer server({.tls = true});
    net::io_context io;
    auto options = options_for(server.tls_url());
    options.tls_ca_file = server.ca_file().string();
    Client client(io.get_executor(), options);
    start_and_connect(io, client);
    CHECK(text(run(io, client.command({"ECHO", "over tls"}))) == "over tls");
    const auto info = server.command({"CLIENT", "LIST"});
    CHECK(info.text.find("name=baton-test") != std::string::npos);
  }

  TEST_CASE("TLS: a server certificate from an unknown CA is refused") {
    RedisServer server({.tls = true});
    net::io_context io;
    auto options = options_for(server.tls_url());  // the system CA store
    Client client(io.get_executor(), options);
    client.start();
    CHECK_FALSE(run_until(io, 1s, [&] { return client.connected(); }));
    CHECK(run(io, client.command({"PING"})).error == Error::unreachable);

    options.tls_verify = false;
    Client trusting(io.get_executor(), options);
    start_and_connect(io, trusting);
  }

  TEST_CASE("TLS: a client certificate for a server that requires one") {
    RedisServer server({.tls = true, .tls_auth_clients = "yes"});
    net::io_context io;
    auto options = options_for(server.tls_url());
    options.tls_ca_file = server.ca_file().string();
    options.tls_cert_file = server.client_cert_file().string();
    options.tls_key_file = server.client_key_file().string();
    Client client(io.get_executor(), options);
    start_and_connect(io, client);
    CHECK(text(run(io, client.command({"PING"}))) == "PONG");
  }
}

TEST_SUITE("redis client observer") {
  TEST_CASE("an observer sees round trips, failed commands but NOSCRIPT, and the connection come and go") {
    struct Counts final : ClientObserver {
      int round_trips = 0;
      int failures = 0;
      int running = 0;
      int connected = 0;
      void round_trip(std::chrono::nanoseconds elapsed) noexcept override {
        if (elapsed.count() > 0) ++round_trips;
      }
      void command_failed() noexcept override { ++failures; }
      void client_running(bool now) noexcept override { running += now ? 1 : -1; }
      void connection(bool up) noexcept override { connected += up ? 1 : -1; }
    };
    RedisServer server;
    net::io_context io;
    Counts counts;
    auto options = options_for(server.url());
    options.observer = &counts;
    Client client(io.get_executor(), options);
    start_and_connect(io, client);
    CHECK(counts.running == 1);
    CHECK(counts.connected == 1);

    CHECK(text(run(io, client.command({"ECHO", "x"}))) == "x");
    run(io, client.pipeline({{"ECHO", "a"}, {"ECHO", "b"}}));
    CHECK(counts.round_trips == 2);  // a pipelined batch is one round trip
    CHECK(counts.failures == 0);

    CHECK(run(io, client.command({"NO-SUCH-COMMAND"})).error == Error::server);
    CHECK(counts.failures == 1);
    const Script script("return 7");  // never loaded: NOSCRIPT first, then loaded and run
    CHECK(integer(run(io, client.eval(script, no_views, no_views))) == 7);
    CHECK(counts.failures == 1);

    server.stop();
    REQUIRE(run_until(io, 5s, [&] { return counts.connected == 0; }));
    CHECK(run(io, client.command({"ECHO", "x"}), 2s).error == Error::unreachable);
    CHECK(counts.failures == 2);
    server.start();
    REQUIRE(run_until(io, 10s, [&] { return counts.connected == 1; }));

    client.stop();
    CHECK(counts.connected == 0);
    CHECK(counts.running == 0);
  }
}

TEST_SUITE("redis subscriber") {
  TEST_CASE("a PUBLISH wakes a waiting watch") {
    RedisServer server;
    net::io_context io;
    Subscriber subscriber(io.get_executor(), options_for(server.url()));
    start_and_connect(io, subscriber);

    const auto watched = run(io, subscriber.watch("baton:{s1}:free"));
    REQUIRE_FALSE(watched.error);
    auto woke = spawn(io, watched.watch->wait_until(Clock::now() + 30s));
    io.poll();
    CHECK(server.command({"PUBLISH", "baton:{s1}:free", "x"}).integer == 1);
    REQUIRE(run_until(io, 5s, [&] { return woke->done(); }));
    CHECK(woke->get());
  }

  TEST_CASE("a message that came before the wait is not lost and a wait consumes it") {
    RedisServer server;
    net::io_context io;
    Subscriber subscriber(io.get_executor(), options_for(server.url()));
    start_and_connect(io, subscriber);
    auto first = run(io, subscriber.watch("first")).watch;
    auto second = run(io, subscriber.watch("second")).watch;
    REQUIRE(first);
    REQUIRE(second);

    server.command({"PUBLISH", "first", "x"});
    server.command({"PUBLISH", "second", "x"});
    // Redis delivers in order: once "second" arrived, so had "first".
    CHECK(run(io, second->wait_until(Clock::now() + 10s)));
    CHECK(run(io, first->wait_until(Clock::now())));  // no waiting at all
    CHECK_FALSE(run(io, first->wait_until(Clock::now() + 100ms)));
  }

  TEST_CASE("watches share a subscription and the last one gone unsubscribes") {
    RedisServer server;
    net::io_context io;
    Subscriber subscriber(io.get_executor(), options_for(server.url()));
    start_and_connect(io, subscriber);
    auto a = run(io, subscriber.watch("shared")).watch;
    auto b = run(io, subscriber.watch("shared")).watch;
    REQUIRE(a);
    REQUIRE(b);
    CHECK(subscribers_of(server, "shared") == 1);

    auto woke_a = spawn(io, a->wait_until(Clock::now() + 30s));
    auto woke_b = spawn(io, b->wait_until(Clock::now() + 30s));
    io.poll();
    server.command({"PUBLISH", "shared", "x"});
    REQUIRE(run_until(io, 5s, [&] { return woke_a->done() && woke_b->done(); }));
    CHECK(woke_a->get());
    CHECK(woke_b->get());

    a.reset();
    io.poll();
    CHECK(subscribers_of(server, "shared") == 1);
    b.reset();
    CHECK(run_until(io, 5s, [&] { return subscribers_of(server, "shared") == 0; }));

    // And a new watch subscribes again.
    auto c = run(io, subscriber.watch("shared")).watch;
    REQUIRE(c);
    CHECK(subscribers_of(server, "shared") == 1);
  }

  TEST_CASE("a server restart ends waits at once and after reconnecting publishes wake again") {
    RedisServer server;
    net::io_context io;
    Subscriber subscriber(io.get_executor(), options_for(server.url()));
    start_and_connect(io, subscriber);
    auto watch = run(io, subscriber.watch("ch")).watch;
    REQUIRE(watch);

    auto waiting = spawn(io, watch->wait_until(Clock::now() + 60s));
    io.poll();
    server.stop();
    REQUIRE(run_until(io, 5s, [&] { return waiting->done(); }));  // not at the 60 s deadline
    CHECK_FALSE(waiting->get());
    CHECK(run(io, subscriber.watch("other")).error == Error::unreachable);

    server.start();
    REQUIRE(run_until(io, 10s, [&] { return subscriber.connected(); }));
    // The subscription is back: the old watch is told once (false), so that its owner
    // retries what it may have missed while it was gone.
    CHECK_FALSE(run(io, watch->wait_until(Clock::now() + 30s), 5s));
    CHECK(subscribers_of(server, "ch") == 1);

    auto fresh = run(io, subscriber.watch("ch")).watch;
    REQUIRE(fresh);
    auto old_woke = spawn(io, watch->wait_until(Clock::now() + 30s));
    auto fresh_woke = spawn(io, fresh->wait_until(Clock::now() + 30s));
    io.poll();
    server.command({"PUBLISH", "ch", "x"});
    REQUIRE(run_until(io, 5s, [&] { return old_woke->done() && fresh_woke->done(); }));
    CHECK(old_woke->get());
    CHECK(fresh_woke->get());
  }

  TEST_CASE("watch times out when the server does not confirm") {
    RedisServer server;
    net::io_context io;
    auto options = options_for(server.url());
    options.command_timeout = 300ms;
    Subscriber subscriber(io.get_executor(), options);
    start_and_connect(io, subscriber);
    server.pause();
    const auto watched = run(io, subscriber.watch("ch"));
    CHECK(watched.error == Error::timeout);
    CHECK_FALSE(watched.watch);
    server.resume();
    // The SUBSCRIBE went through late and the UNSUBSCRIBE after it: nothing is left.
    CHECK(run_until(io, 5s, [&] { return subscribers_of(server, "ch") == 0; }));
    CHECK(run(io, subscriber.watch("ch")).watch);
  }
}
