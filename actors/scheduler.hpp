// The scheduler actor of one group: owns the group's configuration (the
// only writer), applies operator commands and autodisable, and publishes
// each new configuration to the directory the sessions pick from.
#pragma once

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "core/group_commands.hpp"

namespace balance {

struct scheduler_state {
  group_policy policy;
  uint32_t group = 0;
  const group_directory* directory = nullptr;
  static inline const char* name = "balance.scheduler";

  void publish() const { directory->publish(group, policy); }
};

using scheduler_pointer = scheduler_actor::stateful_pointer<scheduler_state>;

scheduler_actor::behavior_type scheduler(scheduler_pointer self, uint32_t group,
                                         group_policy policy,
                                         const group_directory* directory);

} // namespace balance
