// The words the control plane speaks, as plain C++ (no CAF): what `show`
// reports and what an operator's command asks for. actors/protocol.hpp
// makes them messages; the CLI formats them. Each enum has to_string and
// from_integer beside it, in CAF's style (caf/sec.hpp); CAF 0.17 sends an
// enum as its underlying integer.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace balance {

/// How a group chooses a channel (`!` and `rr`, `%` and `hash`).
enum class group_type : uint8_t { round_robin = 0, hash = 1 };

std::string to_string(group_type x);
bool from_integer(std::underlying_type_t<group_type> in, group_type& out);

/// Why a channel is not enabled: operators' disables are "hard" and only an
/// operator lifts them; automatic ones ("soft", -a) may be lifted by checks.
enum class channel_state : uint8_t {
  enabled = 0,
  disabled = 1,
  auto_disabled = 2,
};

std::string to_string(channel_state x);
bool from_integer(std::underlying_type_t<channel_state> in, channel_state& out);

/// What the health checks say of a channel (`health`, `show json`):
/// unchecked without --check-interval or --observe; up or down with them.
enum class health_state : uint8_t { unchecked = 0, up = 1, down = 2 };

std::string to_string(health_state x);
bool from_integer(std::underlying_type_t<health_state> in, health_state& out);

/// Why the last check of a channel failed (`none` when it passed).
enum class check_error : uint8_t {
  none = 0,
  refused = 1,         ///< ECONNREFUSED: nothing listens
  timeout = 2,         ///< no answer within --check-timeout (or -t)
  expect_mismatch = 3, ///< --check-expect: the first bytes differ
  closed = 4,          ///< --check-expect: the peer closed first
  reset = 5,           ///< ECONNRESET
  unreachable = 6,     ///< no route to the host or network
  failed = 7,          ///< any other error
};

/// The words `health` prints: "refused", "timeout", "expect mismatch"...
std::string to_string(check_error x);
bool from_integer(std::underlying_type_t<check_error> in, check_error& out);

/// What a control_command does to its group.
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

std::string to_string(verb x);
bool from_integer(std::underlying_type_t<verb> in, verb& out);

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

std::string to_string(reply x);
bool from_integer(std::underlying_type_t<reply> in, reply& out);

/// Whether `x` is one of its enum's values: one read off the wire may hold
/// any integer (CAF casts what arrives).
template <class Enum>
bool is_enumerator(Enum x) {
  Enum ignored;
  return from_integer(static_cast<std::underlying_type_t<Enum>>(x), ignored);
}

/// One row of `show`: a channel and its counters.
struct channel_status {
  uint32_t group = 0;
  uint32_t index = 0;
  group_type type = group_type::round_robin;
  channel_state state = channel_state::enabled;
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

/// One row of `health`: what the checks say of a channel (its address and
/// operator state are in the channel_status of the same group and index).
struct health_row {
  uint32_t group = 0;
  uint32_t index = 0;
  health_state state = health_state::unchecked;
  uint32_t successes = 0; ///< consecutive passed checks
  uint32_t failures = 0;  ///< consecutive failed checks
  uint64_t seconds_since_change = 0;
  check_error last_error = check_error::none;
};

/// A state-changing request for one group (the shell's current group).
struct control_command {
  verb what = verb::enable;
  uint32_t group = 0;
  uint32_t channel = 0;
  uint32_t value = 0; ///< maxc
  std::string host;   ///< create, assign
  std::string port;   ///< create, assign
};

} // namespace balance
