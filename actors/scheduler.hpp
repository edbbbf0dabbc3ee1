// The scheduler actor of one group: wraps a group_policy and is the only
// writer of that group's channels (grants, releases, operator changes).
#pragma once

#include "actors/group_commands.hpp"
#include "actors/protocol.hpp"

namespace balance {

struct scheduler_state {
  group_policy policy;
  uint32_t group = 0;
  static inline const char* name = "balance.scheduler";
};

using scheduler_pointer = scheduler_actor::stateful_pointer<scheduler_state>;

scheduler_actor::behavior_type scheduler(scheduler_pointer self,
                                         uint32_t group, group_policy policy);

} // namespace balance
