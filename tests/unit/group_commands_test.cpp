// The operator commands a group applies (core/group_commands.hpp), as
// pure rules: enable/disable, reset, maxc, create, assign, hash/rr, and
// the show rows.
#include <catch2/catch.hpp>

#include <string>

#include "core/group_commands.hpp"
#include "core/limits.hpp"
#include "leasing_group.hpp"

using namespace balance;

namespace {

endpoint addr(const std::string& text, uint16_t port) {
  auto ep = parse_numeric_address(text);
  REQUIRE(ep);
  ep->port = port;
  return *ep;
}

leasing_group two_channels() {
  leasing_group g;
  g.add(addr("10.0.0.1", 80), 0);
  g.add(addr("10.0.0.2", 81), 5);
  return g;
}

control_command make(verb what, uint32_t channel = 0, uint32_t value = 0,
                     std::string host = {}, std::string port = {}) {
  control_command cmd;
  cmd.what = what;
  cmd.channel = channel;
  cmd.value = value;
  cmd.host = std::move(host);
  cmd.port = std::move(port);
  return cmd;
}

const client_key someone{77};

} // namespace

TEST_CASE("disable turns a channel off and says already the second time",
          "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::disable, 1)) == reply::ok);
  CHECK(g.channels()[1].state == channel_state::disabled);
  CHECK(apply_command(g, make(verb::disable, 1)) == reply::already);
  CHECK(g.channels()[1].state == channel_state::disabled);
  CHECK(g.channels()[0].enabled());
}

TEST_CASE("enable turns a channel on and says already when it is on",
          "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::enable, 0)) == reply::already);
  g.channels()[0].state = channel_state::disabled;
  CHECK(apply_command(g, make(verb::enable, 0)) == reply::ok);
  CHECK(g.channels()[0].enabled());
}

TEST_CASE("an operator's disable overrides an automatic one and enable lifts "
          "either",
          "[group_commands]") {
  auto g = two_channels();
  g.channels()[0].state = channel_state::auto_disabled;
  CHECK(apply_command(g, make(verb::disable, 0)) == reply::ok);
  CHECK(g.channels()[0].state == channel_state::disabled);

  g.channels()[1].state = channel_state::auto_disabled;
  CHECK(apply_command(g, make(verb::enable, 1)) == reply::ok);
  CHECK(g.channels()[1].state == channel_state::enabled);
}

TEST_CASE("a disabled channel gets no new connections, an enabled one does",
          "[group_commands]") {
  auto g = two_channels();
  REQUIRE(apply_command(g, make(verb::disable, 0)) == reply::ok);
  CHECK(g.pick(someone, {}) == 1u);
  CHECK(g.pick(someone, {}) == 1u);
  REQUIRE(apply_command(g, make(verb::enable, 0)) == reply::ok);
  CHECK(g.pick(someone, {}) == 0u);
}

TEST_CASE("enable, disable and reset of a missing channel say no such channel",
          "[group_commands]") {
  auto g = two_channels();
  for (auto v : {verb::enable, verb::disable, verb::reset}) {
    CAPTURE(to_string(v));
    CHECK(apply_command(g, make(v, 2)) == reply::no_such_channel);
    CHECK(apply_command(g, make(v, UINT32_MAX)) == reply::no_such_channel);
  }
  group_policy empty;
  CHECK(apply_command(empty, make(verb::enable, 0)) == reply::no_such_channel);
}

TEST_CASE("maxc and assign of a missing channel say unknown channel",
          "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::maxc, 2, 3)) == reply::unknown_channel);
  CHECK(apply_command(g, make(verb::assign, 9, 0, "10.0.0.9", "80"))
        == reply::unknown_channel);
  CHECK(g.channels().size() == 2);
}

TEST_CASE("reset zeroes totalc, sent and rcvd but not c", "[group_commands]") {
  auto g = two_channels();
  REQUIRE(g.pick(someone, {}) == 0u);
  REQUIRE(g.pick(someone, {}) == 1u);
  REQUIRE(g.pick(someone, {}) == 0u);
  auto& ch = g.channels()[0];
  ch.traffic->sent = 1000;
  ch.traffic->rcvd = 1015;
  g.channels()[1].traffic->sent = 7;

  CHECK(apply_command(g, make(verb::reset, 0)) == reply::ok);
  CHECK(ch.total() == 0);
  CHECK(ch.traffic->sent == 0);
  CHECK(ch.traffic->rcvd == 0);
  CHECK(ch.current() == 2);
  CHECK(ch.enabled());
  // The other channel is untouched.
  CHECK(g.channels()[1].total() == 1);
  CHECK(g.channels()[1].traffic->sent == 7);
  // Releases after a reset still balance c.
  g.release(0);
  g.release(0);
  CHECK(ch.current() == 0);
}

TEST_CASE("maxc changes a channel's limit and 0 lifts it", "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::maxc, 0, 1)) == reply::ok);
  CHECK(g.channels()[0].maxc == 1);
  g.channels()[1].state = channel_state::disabled;
  CHECK(g.pick(someone, {}) == 0u);
  CHECK_FALSE(g.pick(someone, {}));
  CHECK(apply_command(g, make(verb::maxc, 0, 0)) == reply::ok);
  CHECK(g.channels()[0].maxc == 0);
  CHECK(g.pick(someone, {}) == 0u);
}

TEST_CASE("create adds a disabled channel with zero counters",
          "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::create, 0, 0, "10.0.0.3", "8080"))
        == reply::ok);
  REQUIRE(g.channels().size() == 3);
  auto& ch = g.channels()[2];
  CHECK(ch.state == channel_state::disabled);
  CHECK(ch.target.to_string() == "10.0.0.3:8080");
  CHECK(ch.maxc == 0);
  CHECK(ch.current() == 0);
  CHECK(ch.total() == 0);
  CHECK(ch.traffic->sent == 0);
  CHECK(ch.traffic->rcvd == 0);
  // Then the operator enables it, as scripts for 3.54 do.
  CHECK(apply_command(g, make(verb::enable, 2)) == reply::ok);
  CHECK(g.channels()[2].usable());
}

TEST_CASE("create takes IPv6 addresses and service names", "[group_commands]") {
  group_policy g;
  CHECK(apply_command(g, make(verb::create, 0, 0, "2001:db8::3", "smtp"))
        == reply::ok);
  REQUIRE(g.channels().size() == 1);
  CHECK(g.channels()[0].target.to_string() == "[2001:db8::3]:25");
}

TEST_CASE("create with a bad address or port says invalid address",
          "[group_commands]") {
  auto g = two_channels();
  for (auto [host, port] : std::vector<std::pair<std::string, std::string>>{
         {"10.0.0.300", "80"},
         {"", "80"},
         {"10.0.0.3", "0"},
         {"10.0.0.3", "65536"},
         {"10.0.0.3", "80abc"},
         {"10.0.0.3", "nosuchservice"},
         {"nosuchhost.invalid", "80"}}) {
    CAPTURE(host, port);
    CHECK(apply_command(g, make(verb::create, 0, 0, host, port))
          == reply::invalid_address);
  }
  CHECK(g.channels().size() == 2);
}

TEST_CASE("create beyond MAXCHANNELS says no slots", "[group_commands]") {
  group_policy g;
  for (std::size_t i = 0; i < max_channels; ++i)
    g.add(addr("10.0.0.1", 80), 0);
  CHECK(apply_command(g, make(verb::create, 0, 0, "10.0.0.2", "80"))
        == reply::no_slots);
  CHECK(g.channels().size() == max_channels);
}

TEST_CASE("assign needs the channel disabled", "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::assign, 0, 0, "10.0.0.9", "99"))
        == reply::must_be_disabled);
  CHECK(g.channels()[0].target.to_string() == "10.0.0.1:80");

  REQUIRE(apply_command(g, make(verb::disable, 0)) == reply::ok);
  CHECK(apply_command(g, make(verb::assign, 0, 0, "10.0.0.9", "99"))
        == reply::ok);
  CHECK(g.channels()[0].target.to_string() == "10.0.0.9:99");
  CHECK(g.channels()[0].state == channel_state::disabled);

  // An automatic disable is disabled enough.
  g.channels()[1].state = channel_state::auto_disabled;
  CHECK(apply_command(g, make(verb::assign, 1, 0, "::1", "7")) == reply::ok);
  CHECK(g.channels()[1].target.to_string() == "[::1]:7");
}

TEST_CASE("assign with a bad address or port says invalid address and keeps "
          "the old one",
          "[group_commands]") {
  auto g = two_channels();
  g.channels()[0].state = channel_state::disabled;
  CHECK(apply_command(g, make(verb::assign, 0, 0, "bogus", "80"))
        == reply::invalid_address);
  CHECK(apply_command(g, make(verb::assign, 0, 0, "10.0.0.9", "0"))
        == reply::invalid_address);
  CHECK(g.channels()[0].target.to_string() == "10.0.0.1:80");
}

TEST_CASE("assign keeps the channel's counters and maxc", "[group_commands]") {
  auto g = two_channels();
  REQUIRE(g.pick(someone, {}) == 0u);
  g.channels()[1].traffic->rcvd = 9;
  g.channels()[1].state = channel_state::disabled;
  CHECK(apply_command(g, make(verb::assign, 1, 0, "10.0.0.8", "88"))
        == reply::ok);
  CHECK(g.channels()[1].maxc == 5);
  CHECK(g.channels()[1].traffic->rcvd == 9);
}

TEST_CASE("hash and rr switch the group's type", "[group_commands]") {
  auto g = two_channels();
  CHECK(apply_command(g, make(verb::set_hash)) == reply::ok);
  CHECK(g.type == group_type::hash);
  CHECK(apply_command(g, make(verb::set_hash)) == reply::ok);
  CHECK(g.type == group_type::hash);
  CHECK(apply_command(g, make(verb::set_rr)) == reply::ok);
  CHECK(g.type == group_type::round_robin);
  group_policy empty;
  CHECK(apply_command(empty, make(verb::set_hash)) == reply::ok);
}

TEST_CASE("group_rows gives one show row per channel in channel order",
          "[group_commands]") {
  auto g = two_channels();
  g.type = group_type::hash;
  REQUIRE(g.pick(someone, {}));
  g.channels()[0].load->total = 12;
  g.channels()[0].load->current = 3;
  g.channels()[0].traffic->sent = 252;
  g.channels()[0].traffic->rcvd = 432;
  g.channels()[1].state = channel_state::auto_disabled;
  g.add(addr("2001:db8::1", 443), 0, channel_state::disabled);

  auto rows = group_rows(g, 7);
  REQUIRE(rows.size() == 3);
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(rows[i].group == 7);
    CHECK(rows[i].index == i);
    CHECK(rows[i].type == group_type::hash);
  }
  CHECK(rows[0].address == "10.0.0.1");
  CHECK(rows[0].port == 80);
  CHECK(rows[0].state == channel_state::enabled);
  CHECK(rows[0].current == 3);
  CHECK(rows[0].total == 12);
  CHECK(rows[0].maxc == 0);
  CHECK(rows[0].sent == 252);
  CHECK(rows[0].rcvd == 432);
  CHECK(rows[1].address == "10.0.0.2");
  CHECK(rows[1].port == 81);
  CHECK(rows[1].maxc == 5);
  CHECK(rows[1].state == channel_state::auto_disabled);
  CHECK(rows[2].address == "2001:db8::1");
  CHECK(rows[2].port == 443);
  CHECK(rows[2].state == channel_state::disabled);

  g.type = group_type::round_robin;
  CHECK(group_rows(g, 0).front().type == group_type::round_robin);
  CHECK(group_rows(group_policy{}, 0).empty());
}
