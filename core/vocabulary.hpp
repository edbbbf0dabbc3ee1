// What the control plane reports and asks for, as plain structs (no CAF):
// the CLI formats these, the protocol header makes them inspectable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace balance {

/// channel_state as it crosses the wire (see group_policy.hpp).
enum class channel_state_code : uint8_t {
  enabled = 0,
  disabled = 1,
  auto_disabled = 2
};

/// One row of `show`: a channel and its counters.
struct channel_status {
  uint32_t group = 0;
  uint32_t index = 0;
  uint8_t type = 0;  ///< group_type
  uint8_t state = 0; ///< channel_state
  std::string address;
  uint16_t port = 0;
  uint32_t current = 0;
  uint64_t total = 0;
  uint32_t maxc = 0;
  uint64_t sent = 0;
  uint64_t rcvd = 0;
};

/// Everything `show`, `version`, MRTG, JSON and metrics print.
struct snapshot {
  std::string version;
  uint32_t max_groups = 0;
  uint32_t max_channels = 0;
  int32_t pid = 0;
  uint64_t uptime_seconds = 0;
  uint64_t live_connections = 0;
  uint64_t accept_errors = 0;
  std::vector<channel_status> channels; ///< sorted by group, then channel
};

enum class verb : uint8_t {
  enable,
  disable,
  reset,
  maxc,
  create,
  assign,
  set_hash,
  set_rr,
};

/// A state-changing request for one group (the shell's current group).
struct control_command {
  uint8_t what = 0; ///< verb
  uint32_t group = 0;
  uint32_t channel = 0;
  uint32_t value = 0; ///< maxc
  std::string host;   ///< create, assign
  std::string port;   ///< create, assign
};

/// Outcome of a control_command; the CLI turns it into 3.54's text.
enum class reply : int32_t {
  ok = 0,
  already = 1,          ///< already enabled / disabled
  no_such_channel = 2,  ///< enable, disable, reset
  unknown_channel = 3,  ///< assign, maxc
  must_be_disabled = 4, ///< assign
  invalid_address = 5,  ///< create, assign
  unknown_group = 6,
  no_slots = 7, ///< create beyond MAXCHANNELS
};

} // namespace balance
