// Over 300 lines: one case per scheduling rule, read as a specification.
// The scheduling rules of one group: round robin with 3.54's cursor, maxc,
// failover within a group, the slot lease, autodisable, counters, and
// rendezvous hashing. Picks go through leasing_group, which holds their
// leases as connections do.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/endpoint.hpp"
#include "core/group_policy.hpp"
#include "leasing_group.hpp"

using namespace balance;

namespace {

endpoint addr(const std::string& text, uint16_t port = 0) {
  auto ep = parse_numeric_address(text);
  REQUIRE(ep);
  ep->port = port;
  return *ep;
}

leasing_group rr_group(std::size_t n, uint32_t maxc = 0) {
  leasing_group g;
  for (std::size_t i = 0; i < n; ++i)
    g.add(addr("10.9.0." + std::to_string(i + 1), 80), maxc);
  return g;
}

leasing_group hash_group(std::size_t n, bool failover = false) {
  leasing_group g;
  g.type = group_type::hash;
  g.hash_failover = failover;
  for (std::size_t i = 0; i < n; ++i)
    g.add(addr("10.9.0." + std::to_string(i + 1), 80), 0);
  return g;
}

const client_key any_client{0x1234};

// The i-th of many distinct IPv4 clients 10.x.y.z.
endpoint client(uint32_t i, uint16_t port = 40000) {
  endpoint ep;
  ep.bytes[0] = 10;
  ep.bytes[1] = static_cast<uint8_t>(i >> 16);
  ep.bytes[2] = static_cast<uint8_t>(i >> 8);
  ep.bytes[3] = static_cast<uint8_t>(i);
  ep.port = port;
  return ep;
}

// Picks and lets the lease go at once, so counters and maxc stay neutral.
std::optional<uint32_t> probe(const group_policy& g, const endpoint& who,
                              const tried_set& tried = {}) {
  auto lease = g.pick(client_key::of(who), tried);
  if (!lease)
    return std::nullopt;
  return lease.channel();
}

constexpr uint32_t many = 1000;

} // namespace

// -- round robin ----------------------------------------------------------------

TEST_CASE("a new group is round robin without -H or -a", "[policy][rr]") {
  leasing_group g;
  CHECK(g.type == group_type::round_robin);
  CHECK_FALSE(g.hash_failover);
  CHECK_FALSE(g.autodisable);
  CHECK(g.cursor() == 0);
  CHECK(g.live() == 0);
}

TEST_CASE("add numbers channels from 0 and keeps target, maxc and state",
          "[policy]") {
  group_policy g;
  CHECK(g.add(addr("10.0.0.1", 81), 0) == 0);
  CHECK(g.add(addr("10.0.0.2", 82), 5) == 1);
  CHECK(g.add(addr("::1", 83), 0, channel_state::disabled) == 2);
  REQUIRE(g.channels().size() == 3);
  CHECK(g.channels()[0].target.to_string() == "10.0.0.1:81");
  CHECK(g.channels()[1].maxc == 5);
  CHECK(g.channels()[0].enabled());
  CHECK_FALSE(g.channels()[2].enabled());
  for (auto& ch : g.channels()) {
    CHECK(ch.current() == 0);
    CHECK(ch.total() == 0);
    REQUIRE(ch.traffic);
    CHECK(ch.traffic->sent == 0);
    CHECK(ch.traffic->rcvd == 0);
  }
  // Each channel has its own byte counters.
  CHECK(g.channels()[0].traffic != g.channels()[1].traffic);
}

TEST_CASE("a channel is usable when enabled and below its maxc", "[policy]") {
  channel ch;
  CHECK(ch.usable());
  ch.load->current = 1000;
  CHECK(ch.usable()); // maxc 0 = unlimited
  ch.maxc = 2;
  ch.load->current = 1;
  CHECK(ch.usable());
  ch.load->current = 2;
  CHECK_FALSE(ch.usable());
  ch.load->current = 0;
  ch.state = channel_state::disabled;
  CHECK_FALSE(ch.enabled());
  CHECK_FALSE(ch.usable());
  ch.state = channel_state::auto_disabled;
  CHECK_FALSE(ch.enabled());
  CHECK_FALSE(ch.usable());
}

TEST_CASE("round robin hands out channels in turn", "[policy][rr]") {
  auto g = rr_group(3);
  std::vector<uint32_t> got;
  for (int i = 0; i < 7; ++i) {
    auto c = g.pick(any_client, {});
    REQUIRE(c);
    got.push_back(*c);
  }
  CHECK(got == std::vector<uint32_t>{0, 1, 2, 0, 1, 2, 0});
  CHECK(g.channels()[0].current() == 3);
  CHECK(g.channels()[1].current() == 2);
  CHECK(g.channels()[2].current() == 2);
  CHECK(g.channels()[0].total() == 3);
  CHECK(g.live() == 7);
}

TEST_CASE("the cursor moves past the granted channel at grant time",
          "[policy][rr]") {
  auto g = rr_group(3);
  CHECK(g.cursor() == 0);
  REQUIRE(g.pick(any_client, {}) == 0u);
  CHECK(g.cursor() == 1);
  REQUIRE(g.pick(any_client, {}) == 1u);
  CHECK(g.cursor() == 2);
  REQUIRE(g.pick(any_client, {}) == 2u);
  CHECK(g.cursor() == 0); // wraps

  // Skipping a channel moves the cursor past the one granted, not by one.
  g.channels()[0].state = channel_state::disabled;
  g.channels()[1].state = channel_state::disabled;
  REQUIRE(g.pick(any_client, {}) == 2u);
  CHECK(g.cursor() == 0);
}

TEST_CASE("releases do not move the round robin cursor", "[policy][rr]") {
  auto g = rr_group(3);
  REQUIRE(g.pick(any_client, {}) == 0u);
  g.release(0);
  CHECK(g.cursor() == 1);
  REQUIRE(g.pick(any_client, {}) == 1u);
  g.fail(1);
  CHECK(g.cursor() == 2);
}

TEST_CASE("round robin skips disabled channels", "[policy][rr]") {
  auto g = rr_group(3);
  g.channels()[1].state = channel_state::disabled;
  std::vector<uint32_t> got;
  for (int i = 0; i < 4; ++i)
    got.push_back(g.pick(any_client, {}).value());
  CHECK(got == std::vector<uint32_t>{0, 2, 0, 2});
  CHECK(g.channels()[1].total() == 0);
  CHECK(g.channels()[1].current() == 0);

  g.channels()[2].state = channel_state::auto_disabled;
  CHECK(g.pick(any_client, {}) == 0u);
  CHECK(g.pick(any_client, {}) == 0u);
}

TEST_CASE("round robin wraps once past the end to find a usable channel",
          "[policy][rr]") {
  auto g = rr_group(4);
  REQUIRE(g.pick(any_client, {}) == 0u);
  REQUIRE(g.pick(any_client, {}) == 1u);
  REQUIRE(g.pick(any_client, {}) == 2u);
  CHECK(g.cursor() == 3);
  g.channels()[3].state = channel_state::disabled;
  g.channels()[0].state = channel_state::disabled;
  CHECK(g.pick(any_client, {}) == 1u);
}

TEST_CASE("round robin skips channels the session already tried",
          "[policy][rr]") {
  auto g = rr_group(3);
  CHECK(g.pick(any_client, {0}) == 1u);
  CHECK(g.cursor() == 2);
  CHECK(g.pick(any_client, {2}) == 0u);
  CHECK(g.pick(any_client, {1, 2}) == 0u);
}

TEST_CASE("a pick with nothing left returns nullopt and changes nothing",
          "[policy][rr]") {
  auto g = rr_group(3);
  REQUIRE(g.pick(any_client, {}) == 0u);
  auto cursor = g.cursor();
  CHECK_FALSE(g.pick(any_client, {0, 1, 2}));
  CHECK(g.cursor() == cursor);
  CHECK(g.live() == 1);
  CHECK(g.channels()[1].total() == 0);
  CHECK(g.channels()[2].total() == 0);

  for (auto& ch : g.channels())
    ch.state = channel_state::disabled;
  CHECK_FALSE(g.pick(any_client, {}));
  CHECK(g.cursor() == cursor);
  CHECK(g.live() == 1);
}

TEST_CASE("an empty group has nothing to give", "[policy]") {
  group_policy rr;
  CHECK_FALSE(rr.pick(any_client, {}));
  group_policy hash;
  hash.type = group_type::hash;
  CHECK_FALSE(hash.pick(any_client, {}));
  hash.hash_failover = true;
  CHECK_FALSE(hash.pick(any_client, {}));
}

TEST_CASE("a session failing over tries each channel of the group once",
          "[policy][rr]") {
  auto g = rr_group(4);
  REQUIRE(g.pick(any_client, {}) == 0u); // cursor now at 1
  g.release(0);

  tried_set tried;
  std::vector<uint32_t> order;
  while (auto c = g.pick(any_client, tried)) {
    order.push_back(*c);
    tried.push_back(*c);
    g.fail(*c); // refused
  }
  CHECK(order == std::vector<uint32_t>{1, 2, 3, 0});
  // totalc counts every attempt, c is back to 0.
  CHECK(g.channels()[0].total() == 2);
  CHECK(g.channels()[1].total() == 1);
  CHECK(g.channels()[2].total() == 1);
  CHECK(g.channels()[3].total() == 1);
  CHECK(g.live() == 0);
  // Without -a nothing got disabled.
  for (auto& ch : g.channels())
    CHECK(ch.enabled());
}

// -- maxc --------------------------------------------------------------------------------

TEST_CASE("a full channel spills over to the next one", "[policy][maxc]") {
  auto g = rr_group(2, 1);
  CHECK(g.pick(any_client, {}) == 0u);
  CHECK(g.pick(any_client, {}) == 1u);
  CHECK_FALSE(g.pick(any_client, {}));
  g.release(0);
  CHECK(g.pick(any_client, {}) == 0u);
  CHECK_FALSE(g.pick(any_client, {}));
  g.release(1);
  g.release(0);
  CHECK(g.pick(any_client, {}) == 1u);
  CHECK(g.pick(any_client, {}) == 0u);
}

TEST_CASE("maxc caps one channel while unlimited ones take the rest",
          "[policy][maxc]") {
  leasing_group g;
  g.add(addr("10.0.0.1", 80), 2);
  g.add(addr("10.0.0.2", 80), 0);
  std::vector<uint32_t> got;
  for (int i = 0; i < 8; ++i)
    got.push_back(g.pick(any_client, {}).value());
  CHECK(got == std::vector<uint32_t>{0, 1, 0, 1, 1, 1, 1, 1});
  CHECK(g.channels()[0].current() == 2);
  CHECK(g.channels()[1].current() == 6);
}

TEST_CASE("a channel with maxc 1 allows exactly one connection at a time",
          "[policy][maxc]") {
  auto g = rr_group(1, 1);
  CHECK(g.pick(any_client, {}) == 0u);
  CHECK_FALSE(g.pick(any_client, {}));
  CHECK_FALSE(g.pick(any_client, {}));
  CHECK(g.channels()[0].total() == 1);
  g.release(0);
  CHECK(g.pick(any_client, {}) == 0u);
  CHECK(g.channels()[0].total() == 2);
}

TEST_CASE("a failed connect frees the slot for maxc", "[policy][maxc]") {
  auto g = rr_group(1, 1);
  REQUIRE(g.pick(any_client, {}) == 0u);
  g.fail(0);
  CHECK(g.channels()[0].current() == 0);
  CHECK(g.pick(any_client, {}) == 0u);
}

TEST_CASE("lowering maxc below c stops new grants until enough are released",
          "[policy][maxc]") {
  auto g = rr_group(1);
  for (int i = 0; i < 3; ++i)
    REQUIRE(g.pick(any_client, {}));
  g.channels()[0].maxc = 2;
  CHECK_FALSE(g.pick(any_client, {}));
  g.release(0);
  CHECK_FALSE(g.pick(any_client, {}));
  g.release(0);
  CHECK(g.pick(any_client, {}) == 0u);
}

// -- counters, failure, autodisable -------------------------------------------------------

TEST_CASE("a failed connect without -a only releases the slot",
          "[policy][autodisable]") {
  auto g = rr_group(2);
  REQUIRE(g.pick(any_client, {}) == 0u);
  g.fail(0);
  CHECK(g.channels()[0].state == channel_state::enabled);
  CHECK(g.channels()[0].current() == 0);
  CHECK(g.channels()[0].total() == 1);
}

TEST_CASE("under -a a failed connect auto-disables the channel",
          "[policy][autodisable]") {
  auto g = rr_group(3);
  g.autodisable = true;
  REQUIRE(g.pick(any_client, {}) == 0u);
  g.fail(0);
  CHECK(g.channels()[0].state == channel_state::auto_disabled);
  CHECK_FALSE(g.channels()[0].usable());
  CHECK(g.channels()[0].current() == 0);
  CHECK(g.channels()[0].total() == 1);
  // The others keep turning; channel 0 is skipped until re-enabled.
  std::vector<uint32_t> got;
  for (int i = 0; i < 4; ++i)
    got.push_back(g.pick(any_client, {}).value());
  CHECK(got == std::vector<uint32_t>{1, 2, 1, 2});
  g.enable(0); // the operator's `enable`
  CHECK(g.pick(any_client, {}) == 0u);
}

TEST_CASE("autodisable never turns an operator's disable into an automatic one",
          "[policy][autodisable]") {
  auto g = rr_group(2);
  g.autodisable = true;
  REQUIRE(g.pick(any_client, {}) == 0u);
  // The operator disables while the connect is in flight, then it fails.
  g.channels()[0].state = channel_state::disabled;
  g.fail(0);
  CHECK(g.channels()[0].state == channel_state::disabled);
  CHECK(g.channels()[0].current() == 0);
}

TEST_CASE("a successful connection ending does not auto-disable",
          "[policy][autodisable]") {
  auto g = rr_group(1);
  g.autodisable = true;
  REQUIRE(g.pick(any_client, {}) == 0u);
  g.release(0);
  CHECK(g.channels()[0].state == channel_state::enabled);
}

TEST_CASE("a lease gives its slot back once, however it ends",
          "[policy][lease][counters]") {
  group_policy g;
  g.add(addr("10.0.0.1", 80), 0);
  g.autodisable = true;
  auto& ch = g.channels()[0];
  {
    auto lease = g.pick(any_client, {});
    REQUIRE(lease);
    CHECK(lease.channel() == 0);
    CHECK(lease.traffic() == ch.traffic);
    CHECK(ch.current() == 1);
    lease.release();
    CHECK_FALSE(lease);
    CHECK_FALSE(lease.traffic());
    lease.release();
    lease.fail(); // ended already: no slot, no autodisable
    CHECK(ch.current() == 0);
    CHECK(ch.enabled());
  }
  {
    auto lease = g.pick(any_client, {});
    auto moved = std::move(lease);
    CHECK_FALSE(lease);
    lease.release(); // a moved-from lease holds nothing
    CHECK(ch.current() == 1);
    slot_lease other = g.pick(any_client, {});
    CHECK(ch.current() == 2);
    other = std::move(moved); // the slot `other` held goes back first
    CHECK(ch.current() == 1);
  } // destroyed: the last one goes back
  CHECK(ch.current() == 0);
  CHECK(ch.total() == 3);
}

TEST_CASE("a lease outlives the configuration it was granted from",
          "[policy][lease][copies]") {
  // A published copy is replaced after every change; its connections go on.
  auto owner = rr_group(2);
  slot_lease lease;
  {
    const group_policy published = owner;
    lease = published.pick(any_client, {});
  }
  REQUIRE(lease);
  CHECK(owner.channels()[0].current() == 1);
  lease.release();
  CHECK(owner.channels()[0].current() == 0);
}

TEST_CASE("a failed lease under -a tells the group's owner, once",
          "[policy][lease][autodisable]") {
  auto g = rr_group(2);
  g.set_owner(&g, 5);
  g.autodisable = true;
  auto lease = static_cast<const group_policy&>(g).pick(any_client, {});
  REQUIRE(lease);
  CHECK(lease.group() == 5);
  lease.fail();
  lease.fail();
  CHECK(g.reported == std::vector<uint32_t>{0});
  // Out of every copy at once, before the owner marks it ...
  CHECK_FALSE(g.channels()[0].enabled());
  CHECK(g.channels()[0].state == channel_state::enabled);
  // ... which the owner then does.
  CHECK(g.mark_failed(0));
  CHECK(g.channels()[0].state == channel_state::auto_disabled);
}

TEST_CASE("without -a a failed lease only gives its slot back",
          "[policy][lease][autodisable]") {
  auto g = rr_group(2);
  auto lease = static_cast<const group_policy&>(g).pick(any_client, {});
  lease.fail();
  CHECK(g.reported.empty());
  CHECK(g.channels()[0].enabled());
  CHECK(g.channels()[0].current() == 0);
}

TEST_CASE("live is the sum of c: grants minus releases", "[policy][counters]") {
  auto g = rr_group(3);
  uint64_t grants = 0, releases = 0;
  std::vector<uint32_t> open;
  for (int i = 0; i < 30; ++i) {
    auto c = g.pick(any_client, {});
    REQUIRE(c);
    ++grants;
    open.push_back(*c);
    if (i % 3 == 2) {
      g.release(open.front());
      open.erase(open.begin());
      ++releases;
    }
    if (i % 7 == 6) {
      g.fail(open.back());
      open.pop_back();
      ++releases;
    }
  }
  CHECK(g.live() == grants - releases);
  CHECK(g.live() == open.size());
  uint64_t total = 0;
  for (auto& ch : g.channels())
    total += ch.total();
  CHECK(total == grants);
}

// -- hash: identity -------------------------------------------------------------------------

TEST_CASE("a client's key ignores its port", "[policy][hash]") {
  CHECK(client_key::of(addr("192.0.2.7", 1)).hash
        == client_key::of(addr("192.0.2.7", 65535)).hash);
  CHECK(client_key::of(addr("2001:db8::7", 1)).hash
        == client_key::of(addr("2001:db8::7", 2)).hash);
}

TEST_CASE("a v4-mapped client has the same key as its IPv4 address",
          "[policy][hash]") {
  CHECK(client_key::of(addr("::ffff:10.1.2.3", 5)).hash
        == client_key::of(addr("10.1.2.3", 6)).hash);
}

TEST_CASE("different clients have different keys", "[policy][hash]") {
  std::set<uint64_t> keys;
  for (uint32_t i = 0; i < many; ++i)
    keys.insert(client_key::of(client(i)).hash);
  CHECK(keys.size() == many);
  // The family is part of the identity: 1.2.3.4 is not ::102:304.
  CHECK(client_key::of(addr("1.2.3.4")).hash
        != client_key::of(addr("::102:304")).hash);
}

TEST_CASE("rank orders every channel by descending score", "[policy][hash]") {
  auto g = hash_group(5);
  for (uint32_t i = 0; i < 50; ++i) {
    auto key = client_key::of(client(i));
    auto order = g.rank(key);
    REQUIRE(order.size() == 5);
    CHECK(std::set<uint32_t>(order.begin(), order.end()).size() == 5);
    for (std::size_t k = 1; k < order.size(); ++k)
      CHECK(g.score(order[k - 1], key) >= g.score(order[k], key));
  }
}

TEST_CASE("a hash group gives a client its top-ranked channel",
          "[policy][hash]") {
  auto g = hash_group(4);
  for (uint32_t i = 0; i < 100; ++i) {
    auto key = client_key::of(client(i));
    auto got = g.pick(key, {});
    REQUIRE(got);
    CHECK(*got == g.rank(key).front());
  }
}

TEST_CASE("the same client always gets the same channel", "[policy][hash]") {
  auto g = hash_group(4);
  for (uint32_t i = 0; i < 100; ++i) {
    auto first = probe(g, client(i, 1000));
    REQUIRE(first);
    for (uint16_t port = 1001; port < 1010; ++port)
      CHECK(probe(g, client(i, port)) == first);
  }
  // Also across groups built the same way (i.e. across restarts).
  auto h = hash_group(4);
  for (uint32_t i = 0; i < 100; ++i)
    CHECK(probe(g, client(i)) == probe(h, client(i)));
}

TEST_CASE("the hash spreads many clients fairly over the channels",
          "[policy][hash]") {
  auto g = hash_group(4);
  std::map<uint32_t, int> count;
  for (uint32_t i = 0; i < many; ++i)
    ++count[probe(g, client(i)).value()];
  REQUIRE(count.size() == 4);
  for (auto& [ch, n] : count) {
    CAPTURE(ch, n);
    CHECK(n >= 150);
    CHECK(n <= 350);
  }
}

TEST_CASE("the hash spreads IPv6 clients fairly too", "[policy][hash]") {
  auto g = hash_group(4);
  std::map<uint32_t, int> count;
  for (uint32_t i = 0; i < many; ++i) {
    auto ep = addr("2001:db8::" + std::to_string(i % 10) + ":"
                   + std::to_string(i / 10));
    ++count[probe(g, ep).value()];
  }
  REQUIRE(count.size() == 4);
  for (auto& [ch, n] : count) {
    CAPTURE(ch, n);
    CHECK(n >= 150);
    CHECK(n <= 350);
  }
}

TEST_CASE("hash grants count c and totalc like round robin", "[policy][hash]") {
  auto g = hash_group(3);
  auto key = client_key::of(client(42));
  auto c = g.pick(key, {});
  REQUIRE(c);
  CHECK(g.channels()[*c].current() == 1);
  CHECK(g.channels()[*c].total() == 1);
  REQUIRE(g.pick(key, {}) == c);
  CHECK(g.channels()[*c].current() == 2);
  CHECK(g.live() == 2);
}

// -- hash: changes move only the clients they must -----------------------------------------

TEST_CASE("disabling a channel without -H moves only its clients, each to "
          "its next-ranked enabled channel",
          "[policy][hash]") {
  // Disabled channels take no part in the ranking (a created channel starts
  // disabled and must not bounce anybody to another group).
  auto g = hash_group(4);
  std::vector<uint32_t> before;
  for (uint32_t i = 0; i < many; ++i)
    before.push_back(probe(g, client(i)).value());

  g.channels()[2].state = channel_state::disabled;
  int moved = 0;
  for (uint32_t i = 0; i < many; ++i) {
    auto now = probe(g, client(i));
    REQUIRE(now);
    if (before[i] == 2) {
      auto order = g.rank(client_key::of(client(i)));
      CHECK(order[0] == 2);
      CHECK(*now == order[1]);
      ++moved;
    } else {
      CHECK(now == before[i]);
    }
  }
  CHECK(moved > 0);
}

TEST_CASE("a full channel without -H sends its clients to the next group",
          "[policy][hash]") {
  auto g = hash_group(4);
  for (auto& ch : g.channels())
    ch.maxc = 1;
  auto key = client_key::of(client(7));
  auto first = g.pick(key, {});
  REQUIRE(first);
  CHECK_FALSE(g.pick(key, {}));
}

TEST_CASE("disabling a channel with -H moves only its clients, each to its "
          "next-ranked channel",
          "[policy][hash]") {
  auto g = hash_group(4, true);
  std::vector<uint32_t> before;
  for (uint32_t i = 0; i < many; ++i)
    before.push_back(probe(g, client(i)).value());

  g.channels()[1].state = channel_state::disabled;
  std::map<uint32_t, int> spread;
  for (uint32_t i = 0; i < many; ++i) {
    auto key = client_key::of(client(i));
    auto now = probe(g, client(i));
    REQUIRE(now);
    if (before[i] == 1) {
      CHECK(*now == g.rank(key)[1]);
      ++spread[*now];
    } else {
      CHECK(*now == before[i]);
    }
  }
  // The displaced clients do not all pile onto one channel.
  CHECK(spread.size() == 3);

  // Re-enabling brings every client back where it was.
  g.channels()[1].state = channel_state::enabled;
  for (uint32_t i = 0; i < many; ++i)
    CHECK(probe(g, client(i)) == before[i]);
}

TEST_CASE("auto-disabling a hash channel moves only its clients",
          "[policy][hash][autodisable]") {
  auto g = hash_group(3, true);
  g.autodisable = true;
  std::vector<uint32_t> before;
  for (uint32_t i = 0; i < 300; ++i)
    before.push_back(probe(g, client(i)).value());
  auto key = client_key::of(client(0));
  auto victim = g.pick(key, {}).value();
  g.fail(victim);
  CHECK(g.channels()[victim].state == channel_state::auto_disabled);
  for (uint32_t i = 0; i < 300; ++i) {
    auto now = probe(g, client(i)).value();
    if (before[i] == victim)
      CHECK(now != victim);
    else
      CHECK(now == before[i]);
  }
}

TEST_CASE("adding a channel moves only the clients the new channel wins",
          "[policy][hash]") {
  for (bool failover : {false, true}) {
    CAPTURE(failover);
    auto g = hash_group(4, failover);
    std::vector<uint32_t> before;
    for (uint32_t i = 0; i < many; ++i)
      before.push_back(probe(g, client(i)).value());

    auto added = g.add(addr("10.9.0.99", 80), 0);
    REQUIRE(added == 4);
    int moved = 0;
    for (uint32_t i = 0; i < many; ++i) {
      auto now = probe(g, client(i)).value();
      if (now != before[i]) {
        CHECK(now == added);
        ++moved;
      }
    }
    // About a fifth of the clients, not almost all as with modulo hashing.
    CHECK(moved >= 100);
    CHECK(moved <= 320);
  }
}

TEST_CASE("reassigning a channel's address keeps its clients",
          "[policy][hash]") {
  auto g = hash_group(4);
  std::vector<uint32_t> before;
  for (uint32_t i = 0; i < 200; ++i)
    before.push_back(probe(g, client(i)).value());
  g.channels()[3].target = addr("192.0.2.200", 8080);
  for (uint32_t i = 0; i < 200; ++i)
    CHECK(probe(g, client(i)) == before[i]);
}

TEST_CASE("a full top channel without -H sends the client to the next group",
          "[policy][hash][maxc]") {
  auto g = hash_group(3);
  auto key = client_key::of(client(7));
  auto top = g.rank(key).front();
  g.channels()[top].maxc = 1;
  REQUIRE(g.pick(key, {}) == top);
  CHECK_FALSE(g.pick(key, {}));
  g.release(top);
  CHECK(g.pick(key, {}) == top);
}

TEST_CASE("a full top channel with -H spills to the next channel in rank order",
          "[policy][hash][maxc]") {
  auto g = hash_group(3, true);
  auto key = client_key::of(client(7));
  auto order = g.rank(key);
  g.channels()[order[0]].maxc = 1;
  g.channels()[order[1]].maxc = 1;
  CHECK(g.pick(key, {}) == order[0]);
  CHECK(g.pick(key, {}) == order[1]);
  CHECK(g.pick(key, {}) == order[2]);
  CHECK(g.pick(key, {}) == order[2]);
}

TEST_CASE("a failed top channel without -H is not retried in the group",
          "[policy][hash]") {
  auto g = hash_group(3);
  auto key = client_key::of(client(9));
  auto top = g.pick(key, {}).value();
  g.fail(top);
  CHECK_FALSE(g.pick(key, {top}));
  CHECK(g.live() == 0);
}

TEST_CASE("with -H a failing-over client walks its channels in rank order",
          "[policy][hash]") {
  auto g = hash_group(4, true);
  auto key = client_key::of(client(11));
  tried_set tried;
  while (auto c = g.pick(key, tried)) {
    tried.push_back(*c);
    g.fail(*c);
  }
  CHECK(tried == g.rank(key));
  CHECK(g.live() == 0);
}

TEST_CASE("the hash group's sum of c equals grants minus releases",
          "[policy][hash][counters]") {
  for (bool failover : {false, true}) {
    CAPTURE(failover);
    auto g = hash_group(4, failover);
    g.channels()[0].maxc = 50;
    uint64_t grants = 0, releases = 0;
    std::vector<uint32_t> open;
    for (uint32_t i = 0; i < many; ++i) {
      if (auto c = g.pick(client_key::of(client(i)), {})) {
        ++grants;
        open.push_back(*c);
      }
      if (i % 4 == 3 && !open.empty()) {
        g.release(open.back());
        open.pop_back();
        ++releases;
      }
    }
    CHECK(g.live() == grants - releases);
    CHECK(g.live() == open.size());
    CHECK(g.channels()[0].current() <= 50);
    uint64_t total = 0;
    for (auto& ch : g.channels())
      total += ch.total();
    CHECK(total == grants);
  }
}

TEST_CASE("switching a group between rr and hash keeps its counters",
          "[policy]") {
  auto g = rr_group(3);
  REQUIRE(g.pick(any_client, {}) == 0u);
  g.type = group_type::hash;
  auto key = client_key::of(client(3));
  auto c = g.pick(key, {});
  REQUIRE(c);
  CHECK(*c == g.rank(key).front());
  g.type = group_type::round_robin;
  REQUIRE(g.pick(any_client, {}));
  CHECK(g.live() == 3);
}

// -- shared counters across published copies -----------------------------------

TEST_CASE("copies of a group share c, totalc and the rr cursor",
          "[policy][copies]") {
  auto owner = rr_group(3);
  leasing_group published = owner; // what the data path picks from
  CHECK(published.pick(any_client, {}) == 0u);
  CHECK(owner.channels()[0].current() == 1);
  CHECK(owner.channels()[0].total() == 1);
  CHECK(owner.cursor() == 1);
  // The owner's next pick continues after the copy's grant.
  CHECK(owner.pick(any_client, {}) == 1u);
  CHECK(published.cursor() == 2);
  CHECK(published.live() == 2);
  published.release(0);
  CHECK(owner.channels()[0].current() == 0);
  CHECK(owner.live() == 1);
}

TEST_CASE("a copy keeps the configuration it was taken with",
          "[policy][copies]") {
  auto owner = rr_group(2);
  leasing_group before = owner;
  owner.channels()[0].state = channel_state::disabled;
  // The old copy still sees channel 0 enabled, the owner does not.
  CHECK(before.channels()[0].enabled());
  CHECK(owner.pick(any_client, {}) == 1u);
  CHECK(before.pick(any_client, {}) == 0u);
}

TEST_CASE("maxc holds across copies picking at the same time",
          "[policy][copies][maxc]") {
  auto owner = rr_group(1, 100);
  std::vector<leasing_group> copies(4, owner);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (auto& copy : copies)
    threads.emplace_back([&copy, &granted] {
      for (int i = 0; i < 1000; ++i)
        if (copy.pick(any_client, {}))
          ++granted;
    });
  for (auto& t : threads)
    t.join();
  CHECK(granted == 100);
  CHECK(owner.channels()[0].current() == 100);
  CHECK(owner.channels()[0].total() == 100);
}

TEST_CASE("leases ending on many threads bring c back to exactly zero",
          "[policy][copies][counters]") {
  auto owner = rr_group(2);
  for (int i = 0; i < 4000; ++i)
    REQUIRE(owner.pick(any_client, {}));
  std::vector<std::vector<slot_lease>> shares(4);
  for (std::size_t i = 0; i < owner.held.size(); ++i)
    shares[i % 4].push_back(std::move(owner.held[i]));
  owner.held.clear();
  std::vector<std::thread> threads;
  for (auto& share : shares)
    threads.emplace_back([&share] {
      for (auto& lease : share)
        lease.release();
    });
  for (auto& t : threads)
    t.join();
  CHECK(owner.channels()[0].current() == 0);
  CHECK(owner.channels()[1].current() == 0);
  CHECK(owner.channels()[0].total() == 2000);
}

TEST_CASE("try_acquire takes a slot only when enabled and under maxc",
          "[policy]") {
  channel ch;
  ch.maxc = 2;
  CHECK(ch.try_acquire());
  CHECK(ch.try_acquire());
  CHECK_FALSE(ch.try_acquire());
  CHECK(ch.current() == 2);
  ch.load->release();
  CHECK(ch.try_acquire());
  ch.load->release();
  ch.load->release();
  ch.load->release(); // never below zero
  ch.load->release();
  CHECK(ch.current() == 0);
  ch.state = channel_state::disabled;
  CHECK_FALSE(ch.try_acquire());
  CHECK(ch.current() == 0);
  // try_acquire does not count totalc; a grant by pick does.
  CHECK(ch.total() == 0);
}

TEST_CASE("mark_failed says whether it auto-disabled the channel",
          "[policy][autodisable]") {
  auto g = rr_group(3);
  CHECK_FALSE(g.mark_failed(0)); // no -a
  CHECK(g.channels()[0].enabled());
  g.autodisable = true;
  CHECK(g.mark_failed(0));
  CHECK(g.channels()[0].state == channel_state::auto_disabled);
  CHECK_FALSE(g.mark_failed(0)); // already
  g.channels()[1].state = channel_state::disabled;
  CHECK_FALSE(g.mark_failed(1));
  CHECK(g.channels()[1].state == channel_state::disabled);
  CHECK_FALSE(g.mark_failed(3));
  // mark_failed leaves c alone: the lease gives the slot back.
  REQUIRE(g.pick(any_client, {}) == 2u);
  CHECK(g.mark_failed(2));
  CHECK(g.channels()[2].current() == 1);
}

TEST_CASE("under -a a failed connect takes the channel out of every published "
          "copy at once",
          "[policy][autodisable]") {
  // Sessions pick from published copies; the scheduler's disable arrives
  // later. The shared flag closes that window.
  auto owner = rr_group(2);
  owner.autodisable = true;
  leasing_group published = owner; // what the sessions see
  REQUIRE(published.pick(any_client, {}) == 0u);
  published.fail(0); // reported to the owner, not yet marked there
  CHECK(owner.reported == std::vector<uint32_t>{0});
  CHECK(owner.channels()[0].state == channel_state::enabled);
  for (int i = 0; i < 3; ++i)
    CHECK(published.pick(any_client, {}) == 1u);
  CHECK(owner.mark_failed(0)); // the scheduler catches up
  CHECK(owner.enable(0));      // and an operator re-enables
  CHECK(published.pick(any_client, {}) == 0u);
}

TEST_CASE("enable and disable say whether they changed anything",
          "[policy][operator]") {
  auto g = rr_group(2);
  CHECK_FALSE(g.enable(0)); // enabled already
  CHECK(g.disable(0));
  CHECK_FALSE(g.disable(0));
  CHECK(g.channels()[0].state == channel_state::disabled);
  // An operator's disable is hard, even over an automatic one.
  g.channels()[1].state = channel_state::auto_disabled;
  CHECK(g.disable(1));
  CHECK(g.channels()[1].state == channel_state::disabled);
  CHECK(g.enable(1));
  CHECK(g.channels()[1].enabled());
  CHECK_FALSE(g.enable(2));
  CHECK_FALSE(g.disable(2));
}
