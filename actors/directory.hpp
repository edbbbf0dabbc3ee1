// Every group of the instance: the configuration each scheduler actor last
// published (sessions pick from it on their io thread) and the actors
// themselves, the groups' owners, which hear of failed connects under -a
// and --observe and of every health check's result.
#pragma once

#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "core/failover.hpp"
#include "core/group_policy.hpp"
#include "net/health_checks.hpp"

namespace balance {

class group_directory : public published_groups,
                        public group_owner,
                        public net::check_sink {
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

  void channel_observed(uint32_t group, uint32_t channel, uint32_t consecutive,
                        check_error why) const override {
    caf::anon_send(actors_[group], observed_atom::value, channel, consecutive,
                   static_cast<uint8_t>(why));
  }

  /// Health checks' results, from the io thread that ran them.
  void channels_checked(uint32_t group,
                        std::vector<check_result> results) const override {
    caf::anon_send(actors_[group], checked_atom::value, std::move(results));
  }

private:
  std::vector<scheduler_actor> actors_;
};

using directory_ptr = std::shared_ptr<const group_directory>;

} // namespace balance
