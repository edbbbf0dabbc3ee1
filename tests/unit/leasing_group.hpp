// A group_policy for tests that keeps the leases its picks grant, as live
// connections keep theirs, and owns itself: a failed connect is reported
// to it and it marks the channel, as the group's scheduler actor does.
// A copy is a published copy: its leases report to the original.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "core/group_policy.hpp"

struct leasing_group : balance::group_policy, balance::group_owner {
  std::vector<balance::slot_lease> held;
  /// Failed connects the owner heard of and has not marked yet.
  mutable std::vector<uint32_t> reported;
  /// Runs of clients' failed connects (--observe) heard of: channel, length.
  mutable std::vector<std::pair<uint32_t, uint32_t>> observed;

  leasing_group() { set_owner(this, 0); }
  /// A published copy of `owner` (whose owner it keeps), holding nothing.
  leasing_group(const leasing_group& owner) : group_policy(owner) {}
  leasing_group(leasing_group&& other) noexcept
    : group_policy(std::move(other)), held(std::move(other.held)) {
    set_owner(this, 0); // the same group at a new address
  }
  leasing_group& operator=(const leasing_group&) = delete;

  void channel_failed(uint32_t, uint32_t channel) const override {
    reported.push_back(channel);
  }
  void channel_observed(uint32_t, uint32_t channel, uint32_t consecutive,
                        balance::check_error) const override {
    observed.emplace_back(channel, consecutive);
  }

  /// group_policy::pick, keeping the lease; the channel granted.
  std::optional<uint32_t> pick(balance::client_key who,
                               const balance::tried_set& tried) {
    auto lease = group_policy::pick(who, tried);
    if (!lease)
      return std::nullopt;
    auto channel = lease.channel();
    held.push_back(std::move(lease));
    return channel;
  }

  /// Ends the oldest held lease of `channel`: its connection closed.
  void release(uint32_t channel) { take(channel).release(); }

  /// Ends the oldest held lease of `channel` with a failed connect; the
  /// owner then marks what it heard of, as the scheduler does.
  void fail(uint32_t channel) {
    take(channel).fail(balance::check_error::refused);
    for (auto c : reported)
      mark_failed(c);
    reported.clear();
    for (auto [c, n] : observed)
      on_observed(c, n, balance::check_error::refused,
                  balance::health_clock::now());
    observed.clear();
  }

  /// The oldest held lease of `channel` connected (and then closed).
  void connect(uint32_t channel) {
    auto lease = take(channel);
    lease.connected();
  }

  /// Sum of c over the group.
  uint64_t live() const {
    uint64_t sum = 0;
    for (auto& ch : channels())
      sum += ch.current();
    return sum;
  }

private:
  balance::slot_lease take(uint32_t channel) {
    auto i = std::find_if(held.begin(), held.end(), [&](auto& lease) {
      return lease.channel() == channel;
    });
    REQUIRE(i != held.end());
    auto lease = std::move(*i);
    held.erase(i);
    return lease;
  }
};
