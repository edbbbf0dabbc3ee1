// The scheduler actor of one group: wraps a group_policy and is the only
// writer of that group's channels (grants, releases, operator changes).
#pragma once

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

/// Applies a control command to a group (pure; the actor forwards to it).
reply apply_command(group_policy& policy, const control_command& cmd);

/// The show rows of a group (pure).
std::vector<channel_status> group_rows(const group_policy& policy,
                                       uint32_t group);

} // namespace balance
