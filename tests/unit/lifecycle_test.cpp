// An instance's phase (core/lifecycle.hpp): which step may follow which,
// the drain's deadline, and the hand-over to a successor.
#include <catch2/catch.hpp>

#include "core/lifecycle.hpp"

using namespace balance;
using namespace std::chrono_literals;

TEST_CASE("an instance starts serving", "[lifecycle]") {
  lifecycle life;
  CHECK(life.phase() == lifecycle_phase::serving);
  CHECK_FALSE(life.draining());
  CHECK_FALSE(life.handed_over());
  auto st = life.status();
  CHECK(st.phase == lifecycle_phase::serving);
  CHECK(st.drain_seconds_left == 0);
  CHECK(st.successor_pid == 0);
}

TEST_CASE("a drain begins once and counts down to its deadline",
          "[lifecycle]") {
  lifecycle life;
  auto before = lifecycle::clock::now();
  REQUIRE(life.begin_drain(30s));
  CHECK(life.draining());
  CHECK_FALSE(life.begin_drain(30s)); // already
  auto left = life.status(before).drain_seconds_left;
  CHECK((left == 30 || left == 31)); // `before` is a little earlier
  CHECK(life.status(before + 29500ms).drain_seconds_left >= 1);
  CHECK_FALSE(life.drain_expired(before));
  CHECK(life.drain_expired(before + 31s));
  CHECK(life.status(before + 31s).drain_seconds_left == 0);
}

TEST_CASE("a drain without a time limit never expires", "[lifecycle]") {
  lifecycle life;
  REQUIRE(life.begin_drain(0s));
  CHECK_FALSE(life.drain_expired(lifecycle::clock::now() + 24h));
  CHECK(life.status().drain_seconds_left == 0);
}

TEST_CASE("an upgrade excludes a second one and a drain until it is done",
          "[lifecycle]") {
  lifecycle life;
  REQUIRE(life.begin_upgrade());
  CHECK(life.phase() == lifecycle_phase::upgrading);
  CHECK_FALSE(life.begin_upgrade());
  CHECK_FALSE(life.begin_drain(30s)); // no successor yet
  life.abort_upgrade();               // it failed: serving again
  CHECK(life.phase() == lifecycle_phase::serving);
  CHECK(life.begin_upgrade());
}

TEST_CASE("after the hand-over the old process drains", "[lifecycle]") {
  lifecycle life;
  REQUIRE(life.begin_upgrade());
  life.hand_over(1234);
  CHECK(life.handed_over());
  CHECK(life.successor() == 1234);
  REQUIRE(life.begin_drain(30s));
  auto st = life.status();
  CHECK(st.phase == lifecycle_phase::draining);
  CHECK(st.successor_pid == 1234);
  life.abort_upgrade(); // too late: nothing changes
  CHECK(life.draining());
  CHECK_FALSE(life.begin_upgrade());
}

TEST_CASE("a drain refuses a later upgrade", "[lifecycle]") {
  lifecycle life;
  REQUIRE(life.begin_drain(30s));
  CHECK_FALSE(life.begin_upgrade());
}

TEST_CASE("lifecycle values read off the wire are checked", "[lifecycle]") {
  lifecycle_phase phase;
  CHECK(from_integer(2, phase));
  CHECK(phase == lifecycle_phase::draining);
  CHECK_FALSE(from_integer(3, phase));
  lifecycle_reply reply;
  CHECK(from_integer(3, reply));
  CHECK(reply == lifecycle_reply::failed);
  CHECK_FALSE(from_integer(-1, reply));
  CHECK(to_string(lifecycle_reply::busy) == "busy");
  CHECK(to_string(lifecycle_phase::upgrading) == "upgrading");
}
