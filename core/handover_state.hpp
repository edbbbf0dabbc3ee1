// The runtime state an upgrade carries to the new process: every group
// and channel as operators left them (create/assign/enable/disable/maxc/
// hash/rr), the counters totalc/sent/rcvd, and what authenticates the
// hand-over (the instance secret, the old pid, its control file). Plain
// text, one record a line, versioned; the reader treats it as hostile:
// every number, name and count is checked against the instance's limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.hpp"
#include "core/group_policy.hpp"
#include "core/vocabulary.hpp"

namespace balance {

struct saved_channel {
  endpoint target; ///< numeric address and port
  uint32_t maxc = 0;
  channel_state state = channel_state::enabled;
  uint64_t total = 0; ///< totalc
  uint64_t sent = 0;
  uint64_t rcvd = 0;
};

struct saved_group {
  group_type type = group_type::round_robin;
  uint32_t cursor = 0; ///< round robin: the next channel to try
  std::vector<saved_channel> channels;
};

struct handover_state {
  std::string token;   ///< the instance secret (hex)
  int32_t pid = 0;     ///< the process handing over
  uint64_t uptime_seconds = 0;
  std::string rendezvous; ///< its control file (absolute path)
  /// Group g at index g; groups past the end are empty round robin.
  std::vector<saved_group> groups;
};

/// Largest state a reader accepts (64 groups of 1 024 channels fit).
constexpr std::size_t max_handover_state_size = 16u << 20;

std::string serialize(const handover_state& state);

/// nullopt and `error` (what is wrong, and on which line) unless `text`
/// is a complete, well-formed state within the limits.
std::optional<handover_state> parse_handover_state(const std::string& text,
                                                   std::string& error);

/// A group's configuration and counters as they are now.
saved_group capture_group(const group_policy& policy);

/// Fills an empty policy (type, channels, states, counters, cursor).
void restore_group(group_policy& policy, const saved_group& saved);

} // namespace balance
