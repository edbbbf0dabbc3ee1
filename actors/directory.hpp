// Every group of the instance: its scheduler actor and the configuration
// that actor last published, which sessions pick from on their io thread.
#pragma once

#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "core/group_policy.hpp"

namespace balance {

using policy_view = std::shared_ptr<const group_policy>;

class group_directory {
public:
  explicit group_directory(std::size_t groups)
    : actors_(groups), views_(groups, std::make_shared<const group_policy>()) {}

  std::size_t size() const { return views_.size(); }

  /// The latest published configuration of group `g` (any thread).
  policy_view view(std::size_t g) const { return std::atomic_load(&views_[g]); }

  /// Called by group g's scheduler, the only writer of its configuration.
  void publish(std::size_t g, const group_policy& policy) const {
    std::atomic_store(&views_[g], std::make_shared<const group_policy>(policy));
  }

  const scheduler_actor& actor(std::size_t g) const { return actors_[g]; }
  void set_actor(std::size_t g, scheduler_actor a) {
    actors_[g] = std::move(a);
  }
  const std::vector<scheduler_actor>& actors() const { return actors_; }

private:
  std::vector<scheduler_actor> actors_;
  mutable std::vector<policy_view> views_;
};

using directory_ptr = std::shared_ptr<const group_directory>;

} // namespace balance
