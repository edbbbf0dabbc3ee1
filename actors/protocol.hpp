// The typed message vocabulary: atoms, the structs that cross the
// middleman (all inspectable and registered on both sides), and the typed
// interfaces of the scheduler (per group) and control actors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "core/group_policy.hpp"
#include "core/vocabulary.hpp"

namespace balance {

// -- atoms (CAF 0.17: at most 10 characters) ----------------------------------

using failed_atom = caf::atom_constant<caf::atom("failed")>;
using show_atom = caf::atom_constant<caf::atom("show")>;
using command_atom = caf::atom_constant<caf::atom("command")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;

// -- control plane (crosses the middleman) ------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_status& x) {
  return f(caf::meta::type_name("channel_status"), x.group, x.index, x.type,
           x.state, x.address, x.port, x.current, x.total, x.maxc, x.sent,
           x.rcvd);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot& x) {
  return f(caf::meta::type_name("snapshot"), x.version, x.max_groups,
           x.max_channels, x.pid, x.uptime_seconds, x.live_connections,
           x.accept_errors, x.channels);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, control_command& x) {
  return f(caf::meta::type_name("control_command"), x.what, x.group, x.channel,
           x.value, x.host, x.port);
}

/// The error a request with a missing or wrong secret gets.
inline caf::error refused_error() {
  return caf::error(1, caf::atom("balance"));
}
inline bool is_refused(const caf::error& err) {
  return err.category() == caf::atom("balance") && err.code() == 1;
}

// -- typed interfaces ----------------------------------------------------------

/// One per group: the only writer of that group's configuration, which it
/// publishes to the group_directory after every change. Sessions pick from
/// that copy on their io thread; a failed connect is reported here.
using scheduler_actor = caf::typed_actor<
  caf::reacts_to<failed_atom, uint32_t>,
  caf::replies_to<show_atom>::with<std::vector<channel_status>>,
  caf::replies_to<command_atom, control_command>::with<int32_t>>;

/// Published on the middleman; every request carries the instance secret.
using control_actor = caf::typed_actor<
  caf::replies_to<show_atom, std::string>::with<snapshot>,
  caf::replies_to<command_atom, std::string, control_command>::with<int32_t>,
  caf::replies_to<kill_atom, std::string>::with<int32_t>>;

/// Registers every type that crosses the middleman; both sides call it.
inline void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<channel_status>("balance::channel_status");
  cfg.add_message_type<snapshot>("balance::snapshot");
  cfg.add_message_type<control_command>("balance::control_command");
}

} // namespace balance
