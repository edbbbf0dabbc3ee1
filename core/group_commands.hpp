// Operator commands on one group (enable, disable, reset, maxc, create,
// assign, hash, rr) and its show and health rows: pure rules the
// scheduler applies.
#pragma once

#include <vector>

#include "core/group_policy.hpp"
#include "core/vocabulary.hpp"

namespace balance {

/// Applies a control command to a group; the reply says what happened.
reply apply_command(group_policy& policy, const control_command& cmd);

/// The show rows of a group, in channel order.
std::vector<channel_status> group_rows(const group_policy& policy,
                                       uint32_t group);

/// The health rows of a group, in channel order, ages as of `now`.
std::vector<health_row> health_rows(const group_policy& policy,
                                    uint32_t group,
                                    health_clock::time_point now);

} // namespace balance
