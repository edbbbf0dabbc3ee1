// The scheduler actor of one group: owns the group's configuration (the
// only writer), applies operator commands, autodisable and health, and
// publishes each new configuration to the directory the sessions pick from.
#pragma once

#include <functional>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "core/group_commands.hpp"

namespace balance {

/// What a scheduler does beyond its group's policy (all optional).
struct scheduler_hooks {
  /// A channel went down under --on-down shutdown: reset its connections.
  std::function<void(uint32_t group, uint32_t channel)> reset_channel;
  /// `create` added a channel: check it from now on.
  std::function<void(uint32_t group, uint32_t channel)> channel_created;
};

struct scheduler_state {
  group_policy policy;
  uint32_t group = 0;
  const group_directory* directory = nullptr;
  scheduler_hooks hooks;
  static inline const char* name = "balance.scheduler";

  void publish() const { directory->publish(group, policy); }
  /// Publishes and logs a change of channel `index`'s health.
  void on_health_changed(uint32_t index, const std::string& because);
  /// Logs a published change of channel `index`'s health and, if it went
  /// down under --on-down shutdown, resets its connections.
  void report_health_change(uint32_t index, const std::string& because);
};

using scheduler_pointer = scheduler_actor::stateful_pointer<scheduler_state>;

scheduler_actor::behavior_type scheduler(scheduler_pointer self, uint32_t group,
                                         group_policy policy,
                                         const group_directory* directory,
                                         scheduler_hooks hooks);

} // namespace balance
