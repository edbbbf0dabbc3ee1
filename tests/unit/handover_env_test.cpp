// $BALANCE_HANDOVER (cli/handover.hpp): the only form a process started by
// an upgrade accepts is three distinct descriptor numbers from 3 on.
#include <catch2/catch.hpp>

#include "cli/handover.hpp"

using namespace balance::cli;

TEST_CASE("the hand-over variable names three descriptors", "[handover]") {
  auto fds = parse_handover_env("7:8:9");
  REQUIRE(fds);
  CHECK((*fds)[0] == 7);
  CHECK((*fds)[1] == 8);
  CHECK((*fds)[2] == 9);
  CHECK(parse_handover_env("65535:3:4"));
}

TEST_CASE("a malformed hand-over variable is refused", "[handover]") {
  for (const char* bad :
       {"", "7", "7:8", "7:8:9:10", "7:8:", ":8:9", "7::9", "a:8:9", "-7:8:9",
        "2:8:9", "0:1:2", "7:8:65536", "7:8:999999", "7:7:9", "7:8:7",
        " 7:8:9", "7:8:9 ", "+7:8:9"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_handover_env(bad));
  }
}
