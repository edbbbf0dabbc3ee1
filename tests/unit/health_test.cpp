// Health as the policy keeps it: the rise/fall rule over check results,
// --observe's run of clients' failed connects, what `enable` may and may
// not do, and a down channel out of rotation in round-robin and hash
// groups.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "core/endpoint.hpp"
#include "core/group_policy.hpp"
#include "core/health.hpp"
#include "leasing_group.hpp"

using namespace balance;

namespace {

auto t0 = health_clock::time_point{} + std::chrono::hours(1);

health_rules active_rules(uint32_t rise = 2, uint32_t fall = 3) {
  health_rules r;
  r.rise = rise;
  r.fall = fall;
  r.active = true;
  return r;
}

leasing_group checked_group(std::size_t n, health_rules rules) {
  leasing_group g;
  g.health = rules;
  for (std::size_t i = 0; i < n; ++i) {
    auto ep = parse_numeric_address("10.7.0." + std::to_string(i + 1));
    REQUIRE(ep);
    ep->port = 80;
    g.add(*ep, 0);
  }
  return g;
}

client_key client(int n) {
  auto ep = parse_numeric_address("192.0.2." + std::to_string(n));
  REQUIRE(ep);
  return client_key::of(*ep);
}

} // namespace

TEST_CASE("health starts up when checked and unchecked otherwise") {
  CHECK(channel_health::initial(active_rules(), t0).state == health_state::up);
  health_rules observe;
  observe.observe = true;
  CHECK(channel_health::initial(observe, t0).state == health_state::up);
  CHECK(channel_health::initial(health_rules{}, t0).state
        == health_state::unchecked);
}

TEST_CASE("fall consecutive failures take a channel down, rise passes bring it up") {
  auto rules = active_rules(2, 3);
  auto h = channel_health::initial(rules, t0);
  CHECK_FALSE(h.on_check(false, check_error::refused, rules, t0));
  CHECK_FALSE(h.on_check(false, check_error::refused, rules, t0));
  CHECK(h.state == health_state::up);
  CHECK(h.failures == 2);
  auto t1 = t0 + std::chrono::seconds(5);
  CHECK(h.on_check(false, check_error::timeout, rules, t1));
  CHECK(h.state == health_state::down);
  CHECK(h.last_error == check_error::timeout);
  CHECK(h.changed == t1);
  CHECK_FALSE(h.on_check(true, check_error::none, rules, t1));
  CHECK(h.state == health_state::down);
  CHECK(h.on_check(true, check_error::none, rules, t1));
  CHECK(h.state == health_state::up);
  CHECK(h.successes == 2);
  CHECK(h.failures == 0);
}

TEST_CASE("a result against the run restarts it, so flapping never changes state") {
  auto rules = active_rules(2, 3);
  auto h = channel_health::initial(rules, t0);
  // Up: never `fall` failures in a row (two, then a pass).
  for (int i = 0; i < 50; ++i) {
    CHECK_FALSE(h.on_check(false, check_error::refused, rules, t0));
    CHECK_FALSE(h.on_check(false, check_error::refused, rules, t0));
    CHECK_FALSE(h.on_check(true, check_error::none, rules, t0));
  }
  CHECK(h.state == health_state::up);
  // Down, then alternating: never `rise` passes in a row.
  for (int i = 0; i < 3; ++i)
    h.on_check(false, check_error::refused, rules, t0);
  REQUIRE(h.state == health_state::down);
  for (int i = 0; i < 50; ++i) {
    CHECK_FALSE(h.on_check(true, check_error::none, rules, t0));
    CHECK_FALSE(h.on_check(false, check_error::refused, rules, t0));
  }
  CHECK(h.state == health_state::down);
}

TEST_CASE("rise 1 and fall 1 change state on every differing result") {
  auto rules = active_rules(1, 1);
  auto h = channel_health::initial(rules, t0);
  CHECK(h.on_check(false, check_error::refused, rules, t0));
  CHECK(h.on_check(true, check_error::none, rules, t0));
  CHECK_FALSE(h.on_check(true, check_error::none, rules, t0));
}

TEST_CASE("an unchecked channel ignores results") {
  health_rules rules;
  auto h = channel_health::initial(rules, t0);
  for (int i = 0; i < 5; ++i)
    CHECK_FALSE(h.on_check(false, check_error::refused, rules, t0));
  CHECK(h.state == health_state::unchecked);
  CHECK_FALSE(h.down());
}

TEST_CASE("observed failures take a channel down only under observe and at fall") {
  health_rules rules;
  rules.fall = 3;
  auto h = channel_health::initial(rules, t0);
  CHECK_FALSE(h.on_observed(5, check_error::refused, rules, t0)); // no --observe
  rules.observe = true;
  h = channel_health::initial(rules, t0);
  CHECK_FALSE(h.on_observed(2, check_error::refused, rules, t0));
  CHECK(h.on_observed(3, check_error::refused, rules, t0));
  CHECK(h.down());
  CHECK(h.last_error == check_error::refused);
  CHECK_FALSE(h.on_observed(4, check_error::refused, rules, t0));
}

TEST_CASE("enable brings an observed-down channel up only without active checks") {
  health_rules rules;
  rules.observe = true;
  auto h = channel_health::initial(rules, t0);
  REQUIRE(h.on_observed(3, check_error::refused, rules, t0));
  CHECK(h.on_enable(rules, t0));
  CHECK(h.state == health_state::up);
  CHECK_FALSE(h.on_enable(rules, t0)); // up already

  rules.active = true;
  h = channel_health::initial(rules, t0);
  REQUIRE(h.on_observed(3, check_error::refused, rules, t0));
  CHECK_FALSE(h.on_enable(rules, t0));
  CHECK(h.down());
}

TEST_CASE("a down channel is out of round robin and comes back when up") {
  auto g = checked_group(3, active_rules(1, 1));
  auto now = health_clock::now();
  REQUIRE(g.on_check(1, false, check_error::refused, now));
  std::set<uint32_t> got;
  for (int i = 0; i < 9; ++i) {
    auto ch = g.pick(client(1), {});
    REQUIRE(ch);
    got.insert(*ch);
    g.release(*ch);
  }
  CHECK(got == std::set<uint32_t>{0, 2});
  CHECK(g.channels()[1].enabled()); // the operator's state is untouched
  REQUIRE(g.on_check(1, true, check_error::none, now));
  got.clear();
  for (int i = 0; i < 9; ++i) {
    auto ch = g.pick(client(1), {});
    REQUIRE(ch);
    got.insert(*ch);
    g.release(*ch);
  }
  CHECK(got == std::set<uint32_t>{0, 1, 2});
}

TEST_CASE("every channel down leaves the group with nothing to give") {
  auto g = checked_group(2, active_rules(1, 1));
  auto now = health_clock::now();
  g.on_check(0, false, check_error::refused, now);
  g.on_check(1, false, check_error::timeout, now);
  CHECK_FALSE(g.pick(client(1), {}));
}

TEST_CASE("a down channel in a hash group moves only its own clients") {
  auto g = checked_group(4, active_rules(1, 1));
  g.type = group_type::hash;
  std::vector<uint32_t> before;
  for (int c = 1; c <= 60; ++c) {
    auto ch = g.pick(client(c), {});
    REQUIRE(ch);
    before.push_back(*ch);
    g.release(*ch);
  }
  REQUIRE(g.on_check(2, false, check_error::refused, health_clock::now()));
  for (int c = 1; c <= 60; ++c) {
    auto ch = g.pick(client(c), {});
    REQUIRE(ch);
    CHECK(*ch != 2);
    if (before[c - 1] != 2)
      CHECK(*ch == before[c - 1]);
    g.release(*ch);
  }
}

TEST_CASE("operator disable keeps an up channel out and enable does not revive a down one") {
  auto g = checked_group(2, active_rules(1, 1));
  REQUIRE(g.disable(0));
  for (int i = 0; i < 4; ++i) {
    auto ch = g.pick(client(1), {});
    REQUIRE(ch);
    CHECK(*ch == 1);
    g.release(*ch);
  }
  REQUIRE(g.enable(0));
  REQUIRE(g.on_check(1, false, check_error::refused, health_clock::now()));
  CHECK_FALSE(g.enable(1)); // enabled already, and checks decide health
  CHECK(g.channels()[1].health.down());
}

TEST_CASE("observe counts a run of clients' failed connects and a success ends it") {
  health_rules rules;
  rules.observe = true;
  rules.fall = 3;
  auto g = checked_group(2, rules);
  auto fail_on = [&](uint32_t channel) {
    std::optional<uint32_t> ch;
    do {
      ch = g.pick(client(1), {});
      REQUIRE(ch);
      if (*ch != channel)
        g.release(*ch);
    } while (*ch != channel);
    g.fail(channel);
  };
  fail_on(0);
  fail_on(0);
  // A success in between ends the run.
  std::optional<uint32_t> ch;
  do {
    ch = g.pick(client(1), {});
    REQUIRE(ch);
    if (*ch != 0)
      g.release(*ch);
  } while (*ch != 0);
  g.connect(0);
  fail_on(0);
  fail_on(0);
  CHECK_FALSE(g.channels()[0].health.down());
  fail_on(0);
  CHECK(g.channels()[0].health.down());
  // Only 1 is in rotation now; without active checks, enable revives 0.
  CHECK(g.enable(0));
  CHECK_FALSE(g.channels()[0].health.down());
  CHECK(g.channels()[0].load->observed_failures.load() == 0);
}
