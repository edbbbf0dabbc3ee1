// One client's walk over the groups (core/failover.hpp): every channel of
// a group at most once, then the next group, then nothing; each grant with
// its slot leased. And the published copies it walks over.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/failover.hpp"

using namespace balance;

namespace {

endpoint addr(const std::string& text, uint16_t port) {
  auto ep = parse_numeric_address(text);
  REQUIRE(ep);
  ep->port = port;
  return *ep;
}

// Group g has `sizes[g]` round-robin channels 10.0.g.(c+1):80.
std::shared_ptr<published_groups> groups_of(std::vector<uint32_t> sizes) {
  auto groups = std::make_shared<published_groups>(sizes.size());
  for (uint32_t g = 0; g < sizes.size(); ++g) {
    group_policy policy;
    for (uint32_t c = 0; c < sizes[g]; ++c)
      policy.add(
        addr("10.0." + std::to_string(g) + "." + std::to_string(c + 1), 80), 0);
    groups->publish(g, policy);
  }
  return groups;
}

endpoint a_client() {
  endpoint ep;
  ep.bytes = {192, 0, 2, 7};
  ep.port = 40000;
  return ep;
}

const endpoint client = a_client();

} // namespace

TEST_CASE("a failing client walks every channel once, group by group, then "
          "gets nothing",
          "[failover]") {
  auto groups = groups_of({2, 0, 1});
  failover_walk walk{groups, client};
  std::vector<std::pair<uint32_t, uint32_t>> tried;
  std::vector<std::string> targets;
  while (auto grant = walk.next()) {
    REQUIRE(grant->lease);
    CHECK(grant->lease.group() == 0); // no owner set: the policy's default
    tried.emplace_back(walk.group(), walk.channel());
    targets.push_back(grant->target.to_string());
    grant->lease.fail(); // refused
  }
  CHECK(tried
        == std::vector<std::pair<uint32_t, uint32_t>>{{0, 0}, {0, 1}, {2, 0}});
  CHECK(
    targets
    == std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80", "10.0.2.1:80"});
  CHECK_FALSE(walk.next()); // and stays exhausted
  for (uint32_t g = 0; g < 3; ++g)
    for (auto& ch : groups->view(g)->channels())
      CHECK(ch.current() == 0);
}

TEST_CASE("a grant holds its slot until its lease ends", "[failover]") {
  auto groups = groups_of({1});
  failover_walk walk{groups, client};
  auto grant = walk.next();
  REQUIRE(grant);
  auto& ch = groups->view(0)->channels()[0];
  CHECK(ch.current() == 1);
  CHECK(ch.total() == 1);
  grant->lease.release();
  CHECK(ch.current() == 0);
}

TEST_CASE("with nothing configured a client gets nothing", "[failover]") {
  failover_walk walk{groups_of({0, 0}), client};
  CHECK_FALSE(walk.next());
}

TEST_CASE("a published configuration replaces the last for new picks only",
          "[failover]") {
  auto groups = groups_of({2});
  auto before = groups->view(0);
  group_policy changed = *before;
  changed.channels()[0].state = channel_state::disabled;
  groups->publish(0, changed);
  auto after = groups->view(0);
  CHECK(after != before);
  CHECK(before->channels()[0].enabled()); // a holder's copy is unchanged
  CHECK_FALSE(after->channels()[0].enabled());
  // Counters are shared by every copy.
  auto lease = after->pick(client_key::of(client), {});
  REQUIRE(lease);
  CHECK(lease.channel() == 1);
  CHECK(before->channels()[1].current() == 1);
}
