// The configurations the data path picks from, and one client's way
// through them in failover order (3.54): the channels of the first group,
// none twice, then those of the next group, until a connect succeeds or
// every group is exhausted (the client is then closed).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "core/endpoint.hpp"
#include "core/group_policy.hpp"

namespace balance {

using policy_view = std::shared_ptr<const group_policy>;

/// For each group, the configuration its owner last published: one
/// writer per group (its scheduler actor), readers on any thread.
class published_groups {
public:
  explicit published_groups(std::size_t groups)
    : views_(groups, std::make_shared<const group_policy>()) {}

  std::size_t size() const { return views_.size(); }

  /// The latest published configuration of group `g` (any thread).
  policy_view view(std::size_t g) const { return std::atomic_load(&views_[g]); }

  /// Called by group g's owner, the only writer of its configuration.
  void publish(std::size_t g, const group_policy& policy) const {
    std::atomic_store(&views_[g], std::make_shared<const group_policy>(policy));
  }

private:
  mutable std::vector<policy_view> views_;
};

/// A channel granted to a client: where to connect, and its slot's lease.
struct channel_grant {
  endpoint target;
  slot_lease lease;
};

/// One client's walk over the groups. Each call of next() after the first
/// means the previous grant's connect failed: that channel is not offered
/// again in its group.
class failover_walk {
public:
  failover_walk(std::shared_ptr<const published_groups> groups,
                const endpoint& client);

  /// The next channel for the client, its slot granted; nullopt once
  /// every group is exhausted.
  std::optional<channel_grant> next();

  /// The group and channel of the last grant.
  uint32_t group() const { return group_; }
  uint32_t channel() const { return channel_; }

private:
  std::shared_ptr<const published_groups> groups_;
  client_key key_;
  uint32_t group_ = 0;
  uint32_t channel_ = 0;
  bool granted_ = false; ///< channel_ was granted (and, if asked again, failed)
  tried_set tried_;      ///< failed in group_ (filled only on a failure: no
                         ///< allocation for a client whose first connect works)
};

} // namespace balance
