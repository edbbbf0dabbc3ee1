// Over 300 lines: one case per text of 3.54's and per rendering.
// Output formatting (cli/format.hpp) against 3.54's exact texts: the
// show table, version, MRTG blocks, banner, help and one-line replies, plus
// the JSON and Prometheus renderings.
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/format.hpp"

using namespace balance;
using namespace balance::cli;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

channel_status row(uint32_t group, uint32_t index, const std::string& address,
                   uint16_t port, uint32_t c, uint64_t totalc, uint32_t maxc,
                   uint64_t sent, uint64_t rcvd,
                   group_type type = group_type::round_robin,
                   channel_state state = channel_state::enabled) {
  channel_status ch;
  ch.group = group;
  ch.index = index;
  ch.type = type;
  ch.state = state;
  ch.address = address;
  ch.port = port;
  ch.current = c;
  ch.total = totalc;
  ch.maxc = maxc;
  ch.sent = sent;
  ch.rcvd = rcvd;
  return ch;
}

snapshot base_snapshot() {
  snapshot snap;
  snap.version = "4.0";
  snap.max_groups = 64;
  snap.max_channels = 1024;
  snap.pid = 4242;
  snap.uptime_seconds = 3600;
  snap.live_connections = 21;
  snap.accept_errors = 2;
  return snap;
}

// 3.54's self-referencing example while its connection is open.
snapshot example_snapshot() {
  auto snap = base_snapshot();
  snap.channels = {
    row(0, 0, "127.0.0.1", 22003, 12, 12, 12, 252, 432),
    row(1, 0, "127.0.0.1", 22003, 4, 4, 4, 84, 144),
    row(2, 0, "127.0.0.1", 22003, 2, 2, 2, 42, 72),
    row(2, 1, "127.0.0.1", 22003, 2, 2, 2, 42, 72),
    row(3, 0, "127.0.0.1", 22002, 1, 1, 0, 21, 36),
  };
  return snap;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

command cmd(const std::string& line) {
  auto c = parse_command(line);
  REQUIRE(c.kind != command_kind::syntax_error);
  return c;
}

} // namespace

// -- show -----------------------------------------------------------------------------

TEST_CASE("show reproduces 3.54's five-row example byte for byte",
          "[format][show]") {
  const std::string expected =
    "GRP Type  #   S       ip-address  port    c      totalc maxc        sent        rcvd\n"
    "  0   RR  0 ENA        127.0.0.1 22003   12          12   12         252         432\n"
    "  1   RR  0 ENA        127.0.0.1 22003    4           4    4          84         144\n"
    "  2   RR  0 ENA        127.0.0.1 22003    2           2    2          42          72\n"
    "  2   RR  1 ENA        127.0.0.1 22003    2           2    2          42          72\n"
    "  3   RR  0 ENA        127.0.0.1 22002    1           1    0          21          36\n";
  CHECK(format_show(example_snapshot()) == expected);
}

TEST_CASE("show of no channels is the header alone", "[format][show]") {
  auto snap = base_snapshot();
  CHECK(
    format_show(snap)
    == "GRP Type  #   S       ip-address  port    c      totalc maxc        "
       "sent        rcvd\n");
}

TEST_CASE("show prints Hash groups and disabled channels as 3.54 did",
          "[format][show]") {
  auto snap = base_snapshot();
  snap.channels = {
    row(0, 0, "10.0.0.1", 80, 0, 7, 0, 1, 2, group_type::hash,
        channel_state::enabled),
    row(0, 1, "10.0.0.2", 80, 0, 0, 0, 0, 0, group_type::hash,
        channel_state::disabled),
    row(0, 2, "10.0.0.3", 80, 0, 0, 0, 0, 0, group_type::hash,
        channel_state::auto_disabled),
  };
  auto lines = lines_of(format_show(snap));
  REQUIRE(lines.size() == 4);
  CHECK(
    lines[1]
    == "  0 Hash  0 ENA         10.0.0.1    80    0           7    0           1           2");
  CHECK(
    lines[2]
    == "  0 Hash  1 dis         10.0.0.2    80    0           0    0           0           0");
  // An automatic disable shows as dis too.
  CHECK(
    lines[3]
    == "  0 Hash  2 dis         10.0.0.3    80    0           0    0           0           0");
}

TEST_CASE("show keeps IPv4 rows at their fixed width", "[format][show]") {
  auto snap = base_snapshot();
  snap.channels = {row(10, 63, "255.255.255.255", 65535, 9999,
                       99999999999ULL % 4294967296ULL, 9999, 99999999999ULL,
                       99999999999ULL)};
  auto lines = lines_of(format_show(snap));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].size() == lines[1].size());
  CHECK(
    lines[1]
    == " 10   RR 63 ENA  255.255.255.255 65535 9999  1215752191 9999 99999999999 99999999999");
}

TEST_CASE("show prints a long IPv6 address whole, widening its column",
          "[format][show]") {
  auto snap = base_snapshot();
  const std::string v6 = "2001:db8:1234:5678:9abc:def0:1234:5678";
  snap.channels = {row(0, 0, v6, 443, 1, 2, 3, 4, 5),
                   row(0, 1, "::1", 443, 0, 0, 0, 0, 0)};
  auto lines = lines_of(format_show(snap));
  REQUIRE(lines.size() == 3);
  CHECK(lines[1]
        == "  0   RR  0 ENA " + v6
             + "   443    1           2    3           4           5");
  // A short IPv6 address stays right-aligned in 16 columns.
  CHECK(
    lines[2]
    == "  0   RR  1 ENA              ::1   443    0           0    0           0           0");
}

// -- version, banner, help ------------------------------------------------------------------

TEST_CASE("version prints three lines with two leading spaces",
          "[format][version]") {
  CHECK(format_version(base_snapshot())
        == "  This is balance 4.0\n  MAXGROUPS=64\n  MAXCHANNELS=1024\n");
  auto old = base_snapshot();
  old.version = "3.54";
  old.max_groups = 16;
  old.max_channels = 64;
  CHECK(format_version(old)
        == "  This is balance 3.54\n  MAXGROUPS=16\n  MAXCHANNELS=64\n");
}

TEST_CASE("the interactive banner names version and master pid",
          "[format][banner]") {
  CHECK(
    format_banner("4.0", 42)
    == "\nbalance 4.0 interactive command shell\nPID of master process is 42\n\n");
}

TEST_CASE("help starts with 'available commands:' and indents every command by "
          "two spaces",
          "[format][help]") {
  auto text = format_help();
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  auto lines = lines_of(text);
  REQUIRE(lines.size() > 10);
  CHECK(lines[0] == "available commands:");
  std::set<std::string> listed;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    REQUIRE(lines[i].size() > 2);
    CHECK(lines[i].substr(0, 2) == "  ");
    CHECK(lines[i][2] != ' ');
    listed.insert(lines[i].substr(2, lines[i].find(' ', 2) - 2));
  }
  for (auto& name : command_names()) {
    if (name == "?")
      continue;
    CAPTURE(name);
    CHECK(listed.count(name) == 1);
  }
}

// -- MRTG ---------------------------------------------------------------------------------------

TEST_CASE("mrtg-bytes prints rcvd, sent, UNKNOWN and the target name",
          "[format][mrtg]") {
  auto snap = base_snapshot();
  snap.channels = {row(0, 0, "10.0.0.1", 80, 0, 3, 0, 1000, 1015)};
  CHECK(format_mrtg_bytes(snap, 0, 0)
        == "1015\n1000\nUNKNOWN\ngroup 0 channel 0\n");
}

TEST_CASE("mrtg-conns prints totalc, UNKNOWN twice and the target name",
          "[format][mrtg]") {
  auto snap = base_snapshot();
  snap.channels = {row(0, 0, "10.0.0.1", 80, 0, 3, 0, 1000, 1015)};
  CHECK(format_mrtg_conns(snap, 0, 0)
        == "3\nUNKNOWN\nUNKNOWN\ngroup 0 channel 0\n");
}

TEST_CASE("mrtg reads the requested group's channel, not group 0's",
          "[format][mrtg]") {
  auto snap = example_snapshot();
  CHECK(format_mrtg_bytes(snap, 2, 1)
        == "72\n42\nUNKNOWN\ngroup 2 channel 1\n");
  CHECK(format_mrtg_conns(snap, 1, 0)
        == "4\nUNKNOWN\nUNKNOWN\ngroup 1 channel 0\n");
  CHECK(format_mrtg_bytes(snap, 3, 0)
        == "36\n21\nUNKNOWN\ngroup 3 channel 0\n");
}

TEST_CASE("mrtg counters above 32 bits print in full", "[format][mrtg]") {
  auto snap = base_snapshot();
  snap.channels = {row(0, 0, "10.0.0.1", 80, 0, 5000000000ULL, 0,
                       12345678901234ULL, 98765432109876ULL)};
  CHECK(format_mrtg_bytes(snap, 0, 0)
        == "98765432109876\n12345678901234\nUNKNOWN\ngroup 0 channel 0\n");
  CHECK(format_mrtg_conns(snap, 0, 0)
        == "5000000000\nUNKNOWN\nUNKNOWN\ngroup 0 channel 0\n");
}

TEST_CASE("mrtg outside the group range says unknown group", "[format][mrtg]") {
  auto snap = example_snapshot();
  for (int64_t g : {int64_t{-1}, int64_t{64}, int64_t{65}, int64_t{1000}}) {
    CAPTURE(g);
    CHECK(format_mrtg_bytes(snap, g, 0) == "unknown group\n");
    CHECK(format_mrtg_conns(snap, g, 0) == "unknown group\n");
  }
}

TEST_CASE("mrtg for a channel missing from the requested group says unknown "
          "channel",
          "[format][mrtg]") {
  auto snap = example_snapshot();
  // Group 2 has channel 1, group 1 does not.
  CHECK(format_mrtg_bytes(snap, 1, 1) == "unknown channel\n");
  CHECK(format_mrtg_conns(snap, 1, 1) == "unknown channel\n");
  CHECK(format_mrtg_bytes(snap, 0, -1) == "unknown channel\n");
  CHECK(format_mrtg_conns(snap, 0, 2) == "unknown channel\n");
  // A group in range without channels.
  CHECK(format_mrtg_bytes(snap, 63, 0) == "unknown channel\n");
  CHECK(format_mrtg_conns(snap, 4, 0) == "unknown channel\n");
}

// -- JSON ------------------------------------------------------------------------------------------

TEST_CASE("show json parses back into groups, channels and counters",
          "[format][json]") {
  auto snap = example_snapshot();
  snap.channels[1].type = group_type::hash;
  snap.channels[1].state = channel_state::disabled;
  snap.channels[4].state = channel_state::auto_disabled;
  snap.channels[4].sent = 5000000000000ULL;
  auto text = format_json(snap);
  CHECK(text.back() == '\n');
  auto doc = nlohmann::json::parse(text);

  CHECK(doc.at("version") == "4.0");
  CHECK(doc.at("pid") == 4242);
  CHECK(doc.at("uptime_seconds") == 3600);
  CHECK(doc.at("max_groups") == 64);
  CHECK(doc.at("max_channels") == 1024);
  CHECK(doc.at("live_connections") == 21);
  CHECK(doc.at("accept_errors") == 2);

  auto& groups = doc.at("groups");
  REQUIRE(groups.is_array());
  REQUIRE(groups.size() == 4);
  for (std::size_t g = 0; g < 4; ++g)
    CHECK(groups[g].at("group") == g);
  CHECK(groups[0].at("type") == "rr");
  CHECK(groups[1].at("type") == "hash");
  CHECK(groups[0].at("channels").size() == 1);
  CHECK(groups[1].at("channels").size() == 1);
  CHECK(groups[2].at("channels").size() == 2);
  CHECK(groups[3].at("channels").size() == 1);

  auto& c0 = groups[0].at("channels")[0];
  CHECK(c0.at("channel") == 0);
  CHECK(c0.at("state") == "enabled");
  CHECK(c0.at("enabled") == true);
  CHECK(c0.at("address") == "127.0.0.1");
  CHECK(c0.at("port") == 22003);
  CHECK(c0.at("c") == 12);
  CHECK(c0.at("totalc") == 12);
  CHECK(c0.at("maxc") == 12);
  CHECK(c0.at("sent") == 252);
  CHECK(c0.at("rcvd") == 432);

  auto& c21 = groups[2].at("channels")[1];
  CHECK(c21.at("channel") == 1);
  CHECK(c21.at("rcvd") == 72);

  auto& dis = groups[1].at("channels")[0];
  CHECK(dis.at("state") == "disabled");
  CHECK(dis.at("enabled") == false);

  auto& autodis = groups[3].at("channels")[0];
  CHECK(autodis.at("state") == "auto-disabled");
  CHECK(autodis.at("enabled") == false);
  CHECK(autodis.at("port") == 22002);
  CHECK(autodis.at("sent").get<uint64_t>() == 5000000000000ULL);
}

TEST_CASE("show json of no channels has an empty group list",
          "[format][json]") {
  auto doc = nlohmann::json::parse(format_json(base_snapshot()));
  CHECK(doc.at("groups").is_array());
  CHECK(doc.at("groups").empty());
}

TEST_CASE("show json keeps an IPv6 address as text", "[format][json]") {
  auto snap = base_snapshot();
  snap.channels = {row(0, 0, "2001:db8::1", 443, 0, 0, 0, 0, 0)};
  auto doc = nlohmann::json::parse(format_json(snap));
  CHECK(doc["groups"][0]["channels"][0]["address"] == "2001:db8::1");
}

// -- Prometheus --------------------------------------------------------------------------------------

TEST_CASE("metrics is valid Prometheus text: comments or name{labels} value",
          "[format][metrics]") {
  auto snap = example_snapshot();
  snap.channels.push_back(row(4, 0, "2001:db8::1", 443, 0, 0, 0, 0, 0,
                              group_type::hash, channel_state::auto_disabled));
  // With health rows: one channel up, one down, the rest unchecked.
  std::vector<health_row> health(2);
  health[0].state = health_state::up;
  health[1].group = 1;
  health[1].state = health_state::down;
  health[1].failures = 3;
  auto text = format_metrics(snap, &health);
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');

  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  static const std::regex type(
    R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped|summary|histogram))");
  static const std::regex sample(
    R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")"
    R"((,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? -?[0-9]+(\.[0-9]+)?)");

  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  for (auto& line : lines_of(text)) {
    CAPTURE(line);
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      helped.insert(m[1]);
    } else if (std::regex_match(line, m, type)) {
      CHECK(types.count(m[1]) == 0); // one TYPE per family
      types[m[1]] = m[2];
    } else {
      REQUIRE(std::regex_match(line, m, sample));
      // Every sample belongs to a family declared before it.
      CHECK(types.count(m[1]) == 1);
      CHECK(helped.count(m[1]) == 1);
    }
  }
  for (auto& [name, t] : types) {
    CAPTURE(name);
    if (t == "counter")
      CHECK(name.size() > 6);
    if (t == "counter")
      CHECK(name.substr(name.size() - 6) == "_total");
  }
}

TEST_CASE("metrics carries every channel counter with its labels",
          "[format][metrics]") {
  auto text = format_metrics(example_snapshot());
  const std::string g0 =
    R"({group="0",channel="0",address="127.0.0.1",port="22003"})";
  const std::string g21 =
    R"({group="2",channel="1",address="127.0.0.1",port="22003"})";
  CHECK_THAT(text,
             Contains("# TYPE balance_channel_connections_total counter\n"));
  CHECK_THAT(text,
             Contains("# TYPE balance_channel_sent_bytes_total counter\n"));
  CHECK_THAT(text,
             Contains("# TYPE balance_channel_received_bytes_total counter\n"));
  CHECK_THAT(text, Contains("# TYPE balance_accept_errors_total counter\n"));
  CHECK_THAT(text, Contains("balance_channel_up" + g0 + " 1\n"));
  CHECK_THAT(text, Contains("balance_channel_connections" + g0 + " 12\n"));
  CHECK_THAT(text, Contains("balance_channel_max_connections" + g0 + " 12\n"));
  CHECK_THAT(text,
             Contains("balance_channel_connections_total" + g0 + " 12\n"));
  CHECK_THAT(text,
             Contains("balance_channel_sent_bytes_total" + g0 + " 252\n"));
  CHECK_THAT(text,
             Contains("balance_channel_received_bytes_total" + g0 + " 432\n"));
  CHECK_THAT(text,
             Contains("balance_channel_received_bytes_total" + g21 + " 72\n"));
  CHECK_THAT(text, Contains("balance_accept_errors_total 2\n"));
  CHECK_THAT(text, Contains("balance_connections 21\n"));
  CHECK_THAT(text, Contains("balance_uptime_seconds 3600\n"));
  CHECK_THAT(text, Contains("balance_info{version=\"4.0\"} 1\n"));
}

TEST_CASE("metrics reports a disabled channel as down", "[format][metrics]") {
  auto snap = base_snapshot();
  snap.channels = {row(0, 0, "10.0.0.1", 80, 0, 0, 0, 0, 0,
                       group_type::round_robin, channel_state::disabled),
                   row(0, 1, "10.0.0.2", 80, 0, 0, 0, 0, 0,
                       group_type::round_robin, channel_state::auto_disabled)};
  auto text = format_metrics(snap);
  CHECK_THAT(
    text,
    Contains(
      R"(balance_channel_up{group="0",channel="0",address="10.0.0.1",port="80"} 0)"));
  CHECK_THAT(
    text,
    Contains(
      R"(balance_channel_up{group="0",channel="1",address="10.0.0.2",port="80"} 0)"));
}

// -- one-line replies ----------------------------------------------------------------------------------

TEST_CASE("disable and enable replies name the channel", "[format][reply]") {
  CHECK(format_reply(cmd("disable 3"), 0, reply::ok) == "channel 3 disabled\n");
  CHECK(format_reply(cmd("disable 3"), 0, reply::already)
        == "channel 3 already disabled\n");
  CHECK(format_reply(cmd("enable 4"), 0, reply::ok) == "channel 4 enabled\n");
  CHECK(format_reply(cmd("enable 4"), 0, reply::already)
        == "channel 4 already enabled\n");
}

TEST_CASE(
  "a missing channel for disable, enable or reset is 'no such channel N'",
  "[format][reply]") {
  for (std::string line : {"disable 9", "enable 9", "reset 9"}) {
    CAPTURE(line);
    CHECK(format_reply(cmd(line), 0, reply::no_such_channel)
          == "no such channel 9\n");
  }
  CHECK(format_reply(cmd("disable -1"), 0, reply::no_such_channel)
        == "no such channel -1\n");
}

TEST_CASE("reset replies that the counters were reset", "[format][reply]") {
  CHECK(format_reply(cmd("reset 2"), 1, reply::ok)
        == "channel 2 counters reset\n");
}

TEST_CASE("create replies channel created or invalid address",
          "[format][reply]") {
  CHECK(format_reply(cmd("create 10.0.0.1 80"), 0, reply::ok)
        == "channel created\n");
  CHECK(format_reply(cmd("create nonsense 80"), 0, reply::invalid_address)
        == "invalid address\n");
}

TEST_CASE("assign replies reassigned, must be disabled, invalid address or "
          "unknown channel",
          "[format][reply]") {
  auto a = cmd("assign 1 10.0.0.9 81");
  CHECK(format_reply(a, 0, reply::ok) == "channel reassigned\n");
  CHECK(format_reply(a, 0, reply::must_be_disabled)
        == "channel must be disabled to assign new address\n");
  CHECK(format_reply(a, 0, reply::invalid_address) == "invalid address\n");
  CHECK(format_reply(a, 0, reply::unknown_channel) == "unknown channel\n");
}

TEST_CASE("maxc replies with the channel and the new limit",
          "[format][reply]") {
  CHECK(format_reply(cmd("maxc 2 16"), 0, reply::ok)
        == "maxc of channel 2 changed to 16\n");
  CHECK(format_reply(cmd("maxc 0 0"), 0, reply::ok)
        == "maxc of channel 0 changed to 0\n");
  CHECK(format_reply(cmd("maxc 7 1"), 0, reply::unknown_channel)
        == "unknown channel\n");
}

TEST_CASE("hash and rr reply with the current group", "[format][reply]") {
  CHECK(format_reply(cmd("hash"), 3, reply::ok) == "group 3 set to hash\n");
  CHECK(format_reply(cmd("rr"), 3, reply::ok)
        == "group 3 set to round robin\n");
  CHECK(format_reply(cmd("hash"), 0, reply::ok) == "group 0 set to hash\n");
}

TEST_CASE("the remaining reply codes have their own texts", "[format][reply]") {
  CHECK(format_reply(cmd("disable 1"), 0, reply::unknown_group)
        == "unknown group\n");
  CHECK(format_reply(cmd("create 10.0.0.1 80"), 0, reply::no_slots)
        == "no channel slots available\n");
}

// -- health ---------------------------------------------------------------------

namespace {

std::vector<health_row> example_health() {
  std::vector<health_row> rows(3);
  rows[0].state = health_state::up;
  rows[0].successes = 7;
  rows[0].seconds_since_change = 12;
  rows[1].group = 1;
  rows[1].state = health_state::down;
  rows[1].failures = 3;
  rows[1].seconds_since_change = 4;
  rows[1].last_error = check_error::expect_mismatch;
  rows[2].group = 2;
  rows[2].state = health_state::unchecked;
  return rows;
}

} // namespace

TEST_CASE("health prints a row per channel with state, run, age and error",
          "[format][health]") {
  auto text = format_health(example_snapshot(), example_health());
  auto lines = lines_of(text);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0]
        == "GRP  #   S       ip-address  port health succ fail   since error");
  CHECK(lines[1]
        == "  0  0 ENA        127.0.0.1 22003     up    7    0      12 -");
  CHECK(lines[2]
        == "  1  0 ENA        127.0.0.1 22003   down    0    3       4 "
           "expect mismatch");
  CHECK(lines[3]
        == "  2  0 ENA        127.0.0.1 22003      -    0    0       0 -");
  // Channel 2/1 has no row (created between the two requests): unchecked.
  CHECK(lines[4]
        == "  2  1 ENA        127.0.0.1 22003      -    0    0       0 -");
}

TEST_CASE("show json carries health only when the daemon gave it",
          "[format][health]") {
  auto without = nlohmann::json::parse(format_json(example_snapshot()));
  CHECK_FALSE(without["groups"][0]["channels"][0].contains("health"));
  auto health = example_health();
  auto doc = nlohmann::json::parse(format_json(example_snapshot(), &health));
  auto& up = doc["groups"][0]["channels"][0];
  CHECK(up["health"] == "up");
  CHECK(up["check_successes"] == 7);
  CHECK(up["health_changed_seconds_ago"] == 12);
  CHECK(up["last_check_error"] == "");
  auto& down = doc["groups"][1]["channels"][0];
  CHECK(down["health"] == "down");
  CHECK(down["check_failures"] == 3);
  CHECK(down["last_check_error"] == "expect mismatch");
  CHECK(doc["groups"][2]["channels"][0]["health"] == "unchecked");
}

TEST_CASE("metrics gives balance_channel_healthy for checked channels only",
          "[format][health]") {
  auto health = example_health();
  auto text = format_metrics(example_snapshot(), &health);
  CHECK_THAT(
    text,
    Contains(
      R"(balance_channel_healthy{group="0",channel="0",address="127.0.0.1",port="22003"} 1)"));
  CHECK_THAT(
    text,
    Contains(
      R"(balance_channel_healthy{group="1",channel="0",address="127.0.0.1",port="22003"} 0)"));
  CHECK_THAT(
    text,
    Contains(
      R"(balance_channel_check_failures{group="1",channel="0",address="127.0.0.1",port="22003"} 3)"));
  CHECK(text.find(R"(balance_channel_healthy{group="2")") == std::string::npos);
  CHECK(format_metrics(example_snapshot()).find("balance_channel_healthy")
        == std::string::npos);
}
