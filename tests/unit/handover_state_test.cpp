// The state an upgrade carries (core/handover_state.hpp): written and read
// back whole, and read as hostile input: every malformed, truncated,
// reordered or out-of-range record is refused with a reason.
#include <catch2/catch.hpp>

#include <string>

#include "core/handover_state.hpp"
#include "core/limits.hpp"

using namespace balance;
using Catch::Matchers::Contains;

namespace {

endpoint at(const std::string& address, uint16_t port) {
  auto ep = parse_numeric_address(address);
  REQUIRE(ep);
  ep->port = port;
  return *ep;
}

handover_state sample() {
  handover_state st;
  st.token = std::string(64, 'a');
  st.pid = 4242;
  st.uptime_seconds = 3600;
  st.rendezvous = "/run/balance/balance.8080.0.0.0.0";
  saved_group g0;
  g0.cursor = 1;
  g0.channels.push_back({at("10.0.0.1", 80), 0, channel_state::enabled, 7,
                         1000, 2000});
  g0.channels.push_back({at("10.0.0.2", 81), 12, channel_state::disabled, 3,
                         30, 40});
  g0.channels.push_back({at("2001:db8::1", 443), 0,
                         channel_state::auto_disabled,
                         UINT64_MAX, UINT64_MAX - 1, 0});
  saved_group g1; // empty, left as it was
  saved_group g2;
  g2.type = group_type::hash;
  g2.channels.push_back({at("127.0.0.1", 9), 5, channel_state::disabled, 0,
                         0, 0});
  st.groups = {g0, g1, g2};
  return st;
}

std::string parse_error(const std::string& text) {
  std::string error;
  auto st = parse_handover_state(text, error);
  CHECK_FALSE(st);
  return error;
}

/// sample() serialised, with `from` replaced by `to` (once).
std::string edited(const std::string& from, const std::string& to) {
  auto text = serialize(sample());
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

} // namespace

TEST_CASE("a hand-over state reads back as it was written", "[handover]") {
  auto st = sample();
  std::string error;
  auto back = parse_handover_state(serialize(st), error);
  REQUIRE(back);
  CHECK(error.empty());
  CHECK(back->token == st.token);
  CHECK(back->pid == 4242);
  CHECK(back->uptime_seconds == 3600);
  CHECK(back->rendezvous == st.rendezvous);
  REQUIRE(back->groups.size() == 3);
  CHECK(back->groups[0].cursor == 1);
  REQUIRE(back->groups[0].channels.size() == 3);
  auto& v6 = back->groups[0].channels[2];
  CHECK(v6.target == at("2001:db8::1", 443));
  CHECK(v6.state == channel_state::auto_disabled);
  CHECK(v6.total == UINT64_MAX);
  CHECK(v6.sent == UINT64_MAX - 1);
  CHECK(back->groups[0].channels[1].maxc == 12);
  CHECK(back->groups[0].channels[1].state == channel_state::disabled);
  CHECK(back->groups[1].channels.empty());
  CHECK(back->groups[2].type == group_type::hash);
  CHECK(back->groups[2].channels[0].target == at("127.0.0.1", 9));
}

TEST_CASE("a control file path with blanks survives the hand-over",
          "[handover]") {
  auto st = sample();
  st.rendezvous = "/home/op/my dir/balance.8080.0.0.0.0";
  std::string error;
  auto back = parse_handover_state(serialize(st), error);
  REQUIRE(back);
  CHECK(back->rendezvous == st.rendezvous);
}

TEST_CASE("a truncated hand-over state is refused", "[handover]") {
  auto text = serialize(sample());
  CHECK_THAT(parse_error(text.substr(0, text.size() - 4)),
             Contains("no line end") || Contains("incomplete"));
  CHECK_THAT(parse_error(text.substr(0, text.find("end\n"))),
             Contains("incomplete"));
  CHECK_THAT(parse_error(""), Contains("not a balance hand-over state"));
  CHECK_THAT(parse_error(text + "pid 1\n"), Contains("after 'end'"));
}

TEST_CASE("a hand-over state of another version is refused", "[handover]") {
  auto text = serialize(sample());
  CHECK_THAT(parse_error("balance-handover 2" + text.substr(text.find('\n'))),
             Contains("another version"));
}

TEST_CASE("malformed numbers in a hand-over state are refused",
          "[handover]") {
  CHECK_THAT(parse_error(edited("pid 4242", "pid -1")), Contains("pid"));
  CHECK_THAT(parse_error(edited("pid 4242", "pid 0")), Contains("pid"));
  CHECK_THAT(parse_error(edited("pid 4242", "pid 99999999")), Contains("pid"));
  CHECK_THAT(parse_error(edited("pid 4242", "pid 42x")), Contains("pid"));
  CHECK_THAT(parse_error(edited("uptime 3600", "uptime 36000000000000000")),
             Contains("uptime"));
  // 2^64: one past the largest counter
  CHECK_THAT(
    parse_error(edited("18446744073709551615", "18446744073709551616")),
    Contains("malformed channel"));
  CHECK_THAT(parse_error(edited("10.0.0.1 80 0", "10.0.0.1 0 0")),
             Contains("malformed channel"));
  CHECK_THAT(parse_error(edited("10.0.0.1 80 0", "10.0.0.1 65536 0")),
             Contains("malformed channel"));
  CHECK_THAT(parse_error(edited("10.0.0.2 81 12", "10.0.0.2 81 1000000001")),
             Contains("malformed channel"));
  CHECK_THAT(parse_error(edited("10.0.0.2 81 12", "10.0.0.2 81 +12")),
             Contains("malformed channel"));
}

TEST_CASE("names and addresses in a hand-over state are checked",
          "[handover]") {
  CHECK_THAT(parse_error(edited("10.0.0.1 80", "backend.example 80")),
             Contains("not a numeric address"));
  CHECK_THAT(parse_error(edited("disabled 3", "sleeping 3")),
             Contains("unknown channel state"));
  CHECK_THAT(parse_error(edited("group 2 hash", "group 2 random")),
             Contains("malformed group"));
  CHECK_THAT(parse_error(edited("token aaaa", "token AAAA")),
             Contains("token"));
  CHECK_THAT(parse_error(edited("token " + std::string(64, 'a'), "token ab")),
             Contains("token"));
  CHECK_THAT(parse_error(edited("rendezvous /run", "rendezvous run")),
             Contains("absolute"));
  CHECK_THAT(parse_error(edited("uptime 3600", "mood happy")),
             Contains("unknown record"));
}

TEST_CASE("hand-over records out of order or repeated are refused",
          "[handover]") {
  CHECK_THAT(parse_error(edited("pid 4242\n", "pid 4242\npid 4242\n")),
             Contains("pid"));
  CHECK_THAT(parse_error(edited("group 2 hash", "group 0 hash")),
             Contains("out of order or repeated"));
  CHECK_THAT(parse_error(edited("channel 0 1 ", "channel 0 5 ")),
             Contains("out of order"));
  CHECK_THAT(parse_error(edited("channel 2 0 ", "channel 0 3 ")),
             Contains("outside its group"));
  // A channel before any group.
  CHECK_THAT(parse_error(edited("group 0 rr 1\n", "")),
             Contains("outside its group"));
}

TEST_CASE("a hand-over state beyond the instance's limits is refused",
          "[handover]") {
  CHECK_THAT(parse_error(edited("group 2 hash",
                                "group " + std::to_string(max_groups)
                                  + " hash")),
             Contains("malformed group"));
  CHECK_THAT(parse_error(edited("group 0 rr 1", "group 0 rr 3")),
             Contains("cursor past its channels"));
  CHECK_THAT(parse_error(edited("channel 0 1 ",
                                "channel 0 "
                                  + std::to_string(max_channels) + " ")),
             Contains("malformed channel"));
  CHECK_THAT(parse_error(edited("uptime 3600", "uptime " + std::string(9000, '1'))),
             Contains("too long"));
  std::string huge(max_handover_state_size + 1, '\n');
  CHECK_THAT(parse_error(huge), Contains("too large"));
}

TEST_CASE("a group's configuration and counters are captured and restored",
          "[handover]") {
  group_policy policy;
  policy.type = group_type::hash;
  policy.add(at("10.0.0.1", 80), 0);
  policy.add(at("10.0.0.2", 80), 9, channel_state::disabled);
  policy.autodisable = true;
  policy.add(at("10.0.0.3", 80), 0);
  policy.mark_failed(2);
  policy.channels()[0].load->total = 11;
  policy.channels()[0].traffic->sent = 100;
  policy.channels()[0].traffic->rcvd = 200;
  policy.channels()[0].load->current = 4; // live: stays with the old process
  policy.set_cursor(1);

  auto saved = capture_group(policy);
  group_policy restored;
  restored.autodisable = true;
  restore_group(restored, saved);
  CHECK(restored.type == group_type::hash);
  CHECK(restored.cursor() == 1);
  auto& chans = restored.channels();
  REQUIRE(chans.size() == 3);
  CHECK(chans[0].target == at("10.0.0.1", 80));
  CHECK(chans[0].total() == 11);
  CHECK(chans[0].traffic->sent == 100);
  CHECK(chans[0].traffic->rcvd == 200);
  CHECK(chans[0].current() == 0);
  CHECK(chans[1].maxc == 9);
  CHECK(chans[1].state == channel_state::disabled);
  CHECK(chans[2].state == channel_state::auto_disabled);
  CHECK_FALSE(chans[2].enabled());
}

TEST_CASE("a failed connect not yet published is captured as a disable",
          "[handover]") {
  group_policy policy;
  policy.add(at("10.0.0.1", 80), 0);
  policy.channels()[0].load->failed_off = true; // -a, before the scheduler
  CHECK(capture_group(policy).channels[0].state
        == channel_state::auto_disabled);
}
