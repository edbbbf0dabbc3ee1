// What drain and upgrade add to the CLI's texts (cli/format.hpp): the
// replies to `drain` and `upgrade`, and the drain state in JSON and
// metrics, which appear only when the daemon reported one.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli/format.hpp"

using namespace balance;
using namespace balance::cli;
using Catch::Matchers::Contains;

namespace {

snapshot one_channel() {
  snapshot snap;
  snap.version = "4.0";
  snap.max_groups = 64;
  snap.max_channels = 1024;
  snap.pid = 77;
  channel_status ch;
  ch.address = "127.0.0.1";
  ch.port = 8000;
  snap.channels = {ch};
  return snap;
}

lifecycle_status draining(uint64_t left, int32_t successor = 0) {
  lifecycle_status st;
  st.phase = lifecycle_phase::draining;
  st.drain_seconds_left = left;
  st.successor_pid = successor;
  return st;
}

} // namespace

TEST_CASE("show json says whether the instance drains, if it knows",
          "[format][json]") {
  auto snap = one_channel();
  auto old = nlohmann::json::parse(format_json(snap));
  CHECK_FALSE(old.contains("draining"));
  lifecycle_status serving;
  auto doc = nlohmann::json::parse(format_json(snap, nullptr, &serving));
  CHECK(doc.at("draining") == false);
  CHECK_FALSE(doc.contains("drain_seconds_left"));
  CHECK_FALSE(doc.contains("successor_pid"));
  auto st = draining(12, 4321);
  doc = nlohmann::json::parse(format_json(snap, nullptr, &st));
  CHECK(doc.at("draining") == true);
  CHECK(doc.at("drain_seconds_left") == 12);
  CHECK(doc.at("successor_pid") == 4321);
  // Everything else is as before.
  CHECK(doc.at("groups") == old.at("groups"));
  CHECK(doc.at("pid") == 77);
}

TEST_CASE("metrics has a draining gauge when the daemon reports it",
          "[format][metrics]") {
  auto snap = one_channel();
  CHECK(format_metrics(snap).find("balance_draining") == std::string::npos);
  lifecycle_status serving;
  CHECK_THAT(format_metrics(snap, nullptr, &serving),
             Contains("# TYPE balance_draining gauge\nbalance_draining 0\n"));
  auto st = draining(0);
  CHECK_THAT(format_metrics(snap, nullptr, &st),
             Contains("\nbalance_draining 1\n"));
}

TEST_CASE("the reply to drain says what is left and for how long",
          "[format][lifecycle]") {
  CHECK(format_drain(lifecycle_reply::ok, draining(30), 3)
        == "draining: listener closed, 3 connections left, at most 30 s\n");
  CHECK(format_drain(lifecycle_reply::ok, draining(0), 0)
        == "draining: listener closed, 0 connections left, no time limit\n");
  CHECK(format_drain(lifecycle_reply::already, draining(5), 1)
        == "already draining\n");
  CHECK(format_drain(lifecycle_reply::already, draining(5, 99), 1)
        == "already draining (handed over to process 99)\n");
  CHECK(format_drain(lifecycle_reply::busy, lifecycle_status{}, 0)
        == "an upgrade is under way: not draining\n");
}

TEST_CASE("the reply to upgrade names the new process", "[format][lifecycle]") {
  CHECK(format_upgrade(lifecycle_reply::ok, 1234)
        == "upgrade complete: new master process is 1234\n");
  CHECK(format_upgrade(lifecycle_reply::busy, 0)
        == "an upgrade is already under way\n");
  CHECK(format_upgrade(lifecycle_reply::draining, 0)
        == "the instance is draining: not upgrading\n");
  CHECK(format_upgrade(lifecycle_reply::draining, 55)
        == "the instance is draining (handed over to process 55): not "
           "upgrading\n");
}

TEST_CASE("help lists drain and upgrade after 3.54's commands",
          "[format][help]") {
  auto text = format_help();
  auto drain = text.find("  drain ");
  auto upgrade = text.find("  upgrade [path] ");
  REQUIRE(drain != std::string::npos);
  REQUIRE(upgrade != std::string::npos);
  CHECK(drain > text.find("  version "));
  CHECK(upgrade > drain);
}
