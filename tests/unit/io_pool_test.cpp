// Holding the io threads (net/io_pool.hpp): an upgrade forks while no io
// thread runs, so none closes a socket the child holds a copy of.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <asio/post.hpp>

#include "net/io_pool.hpp"

using balance::net::io_pool;
using namespace std::chrono_literals;

TEST_CASE("a paused pool runs nothing until it is released", "[io_pool]") {
  io_pool pool(2);
  pool.start();
  auto held = pool.pause(2s);
  REQUIRE(held);
  std::atomic<int> ran{0};
  for (std::size_t i = 0; i < pool.size(); ++i)
    asio::post(pool.at(i), [&] { ++ran; });
  std::this_thread::sleep_for(50ms);
  CHECK(ran == 0);
  held.reset();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (ran < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  CHECK(ran == 2);
  pool.stop();
}

TEST_CASE("a pause gives up on a busy thread and holds none", "[io_pool]") {
  io_pool pool(2);
  pool.start();
  std::atomic<bool> release{false};
  asio::post(pool.at(1), [&] {
    while (!release)
      std::this_thread::sleep_for(1ms);
  });
  auto held = pool.pause(100ms);
  CHECK_FALSE(held);
  // Thread 0 was not left waiting: it runs what comes next.
  std::atomic<bool> ran{false};
  asio::post(pool.at(0), [&] { ran = true; });
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!ran && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  CHECK(ran);
  release = true;
  pool.stop();
}
