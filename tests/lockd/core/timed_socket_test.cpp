#include "baton/core/timed_socket.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <new>
#include <thread>

using namespace baton;
using namespace std::chrono_literals;

TEST_SUITE("timed socket") {
  TEST_CASE("a deadline whose wake-up is already due when the socket goes touches nothing of it") {
    // The socket lives in storage of the test's own, so that a write after its end shows
    // in any build (under ASan the same bug is a heap-use-after-free in a coroutine frame).
    net::io_context io;
    alignas(core::TimedSocket) std::array<unsigned char, sizeof(core::TimedSocket)> storage{};
    auto* socket = new (storage.data()) core::TimedSocket(io.get_executor());
    socket->expires_after(1ms);
    std::this_thread::sleep_for(20ms);
    // Runs before the timer's wake-up, which the reactor queues behind it: the socket ends
    // while its wake-up, with success, is waiting to run.
    net::post(io, [&] {
      socket->~TimedSocket();
      storage.fill(0xAB);
    });
    io.run();
    CHECK(std::all_of(storage.begin(), storage.end(), [](unsigned char byte) { return byte == 0xAB; }));
  }

  TEST_CASE("an operation past its deadline ends with timeout") {
    net::io_context io;
    tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
    core::TimedSocket socket(io.get_executor());
    socket.socket().connect(acceptor.local_endpoint());
    socket.expires_after(50ms);
    std::array<char, 1> byte{};
    beast::error_code error;
    socket.async_read_some(net::buffer(byte), [&](const beast::error_code& e, std::size_t) { error = e; });
    io.run_for(5s);
    CHECK(socket.outcome(error) == beast::error::timeout);
  }
}
