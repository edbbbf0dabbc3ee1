// Every group of the instance: the configuration each scheduler actor last
// published (sessions pick from it on their io thread) and the actors
// themselves, the groups' owners, which hear of failed connects under -a.
#pragma once

#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "core/failover.hpp"
#include "core/group_policy.hpp"

namespace balance {

class group_directory : public published_groups, public group_owner {
public:
  explicit group_directory(std::size_t groups)
    : published_groups(groups), actors_(groups) {}

  const scheduler_actor& actor(std::size_t g) const { return actors_[g]; }
  void set_actor(std::size_t g, scheduler_actor a) {
    actors_[g] = std::move(a);
  }
  const std::vector<scheduler_actor>& actors() const { return actors_; }

  /// Tells the group's scheduler (from an io thread: a send, no wait).
  void channel_failed(uint32_t group, uint32_t channel) const override {
    caf::anon_send(actors_[group], failed_atom::value, channel);
  }

private:
  std::vector<scheduler_actor> actors_;
};

using directory_ptr = std::shared_ptr<const group_directory>;

} // namespace balance
