// The typed message protocol, in one place: first everything that crosses
// the middleman (the control actor's interface and how its types are
// serialised), then the messages that stay inside the daemon. The types
// themselves are plain C++ in core/vocabulary.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "core/health.hpp"
#include "core/vocabulary.hpp"

namespace balance {

// == crosses the middleman ===================================================
//
// Between `balance -c/-i` (or a remote operator) and the daemon, over BASP
// behind the control gate. The bytes are the protocol: BASP's handshake
// compares the control actor's interface by its type names, and the
// structs below travel field by field in the order inspect() lists them.

// -- atoms (CAF 0.17: at most 10 characters) ---------------------------------

using show_atom = caf::atom_constant<caf::atom("show")>;
using command_atom = caf::atom_constant<caf::atom("command")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
// Appended with drain and upgrade (docs/architecture.md, "Drain and upgrade").
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using upgrade_atom = caf::atom_constant<caf::atom("upgrade")>;
using lifecycle_atom = caf::atom_constant<caf::atom("lifecycle")>;

// -- types --------------------------------------------------------------------
//
// Enums (group_type, channel_state, verb) go as their underlying integer,
// CAF 0.17's default: the bytes of the uint8_t fields they replaced. One
// read off the wire can hold any integer; is_enumerator() tells.

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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_row& x) {
  return f(caf::meta::type_name("health_row"), x.group, x.index, x.state,
           x.successes, x.failures, x.seconds_since_change, x.last_error);
}

// In-process only, registered all the same: CAF names a message's types
// by their registered names.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_result& x) {
  return f(caf::meta::type_name("check_result"), x.channel, x.passed, x.why);
}

/// Registers every type that crosses the middleman; both sides call it.
inline void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<channel_status>("balance::channel_status");
  cfg.add_message_type<snapshot>("balance::snapshot");
  cfg.add_message_type<control_command>("balance::control_command");
  cfg.add_message_type<health_row>("balance::health_row");
  cfg.add_message_type<std::vector<health_row>>(
    "std::vector<balance::health_row>");
  cfg.add_message_type<std::vector<check_result>>(
    "std::vector<balance::check_result>");
}

/// The error a request with a missing or wrong secret gets.
inline caf::error refused_error() {
  return caf::error(1, caf::atom("balance"));
}
inline bool is_refused(const caf::error& err) {
  return err.category() == caf::atom("balance") && err.code() == 1;
}

/// The error a `command` gets while an upgrade hands the instance over
/// (or after it did): a change made here now would not reach the new
/// process. (A client built before prints it as an error; it still fails.)
inline caf::error busy_error() {
  return caf::error(2, caf::atom("balance"));
}
inline bool is_busy(const caf::error& err) {
  return err.category() == caf::atom("balance") && err.code() == 2;
}

// -- the control actor --------------------------------------------------------

/// Published behind the control gate; every request carries the instance
/// secret. A command's outcome is a `reply` sent as its int32_t (read back
/// with from_integer): as a message of its own, a `reply` would be named
/// "balance::reply" in the interface instead of "@i32", and clients built
/// before would no longer match it.
///
/// The interface only grows: what 4.0 first shipped (`control_base`) stays
/// as it is, and each later request is a new handler after it. A client
/// takes any daemon that has the base (BASP checks interfaces by name, and
/// a superset is assignable), and one that lacks a later handler answers
/// its request with an error the client reports. The types above never
/// change for the same reason: they travel field by field.
using control_base = caf::typed_actor<
  caf::replies_to<show_atom, std::string>::with<snapshot>,
  caf::replies_to<command_atom, std::string, control_command>::with<int32_t>,
  caf::replies_to<kill_atom, std::string>::with<int32_t>>;

using control_with_health = control_base::extend<
  caf::replies_to<health_atom, std::string>::with<std::vector<health_row>>>;

/// Drain and upgrade, appended likewise; the client looks for the three
/// in the interface the handshake announced (has_lifecycle) before it
/// offers them. Replies carry a lifecycle_reply (core/lifecycle.hpp) as
/// its int32_t.
/// - drain: closes the listeners, lets connections finish;
/// - upgrade(path, "" = the running binary): starts the new process, hands
///   it the sockets and the state, then drains: (reply, new pid, why not
///   plus the new process's stderr);
/// - lifecycle: (lifecycle_phase, drain seconds left, successor pid).
using lifecycle_actor = caf::typed_actor<
  caf::replies_to<drain_atom, std::string>::with<int32_t>,
  caf::replies_to<upgrade_atom, std::string, std::string>::with<
    int32_t, int32_t, std::string>,
  caf::replies_to<lifecycle_atom, std::string>::with<uint32_t, uint64_t,
                                                     int32_t>>;

using control_actor = control_with_health::extend_with<lifecycle_actor>;

// == in-process only =========================================================
//
// Between the daemon's own actors; free to change.

using failed_atom = caf::atom_constant<caf::atom("failed")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using checked_atom = caf::atom_constant<caf::atom("checked")>;
using observed_atom = caf::atom_constant<caf::atom("observed")>;
using fds_atom = caf::atom_constant<caf::atom("fds")>;

/// One per group: the only writer of that group's configuration, which it
/// publishes to the group_directory after every change. Sessions pick from
/// that copy on their io thread; a failed connect under -a is reported
/// here (`failed`, the channel), and so are the health checks' results
/// (`checked`, a batch) and a run of clients' failed connects under
/// --observe (`observed`: channel, how many, check_error).
using scheduler_actor = caf::typed_actor<
  caf::reacts_to<failed_atom, uint32_t>,
  caf::reacts_to<checked_atom, std::vector<check_result>>,
  caf::reacts_to<observed_atom, uint32_t, uint32_t, uint8_t>,
  caf::replies_to<show_atom>::with<std::vector<channel_status>>,
  caf::replies_to<health_atom>::with<std::vector<health_row>>,
  caf::replies_to<command_atom, control_command>::with<int32_t>>;

/// The listening sockets. `stop` answers once every acceptor is closed
/// (each on its io thread, which reports back with `closed`) and every
/// connection has been told to close: with how many were. `show`: live
/// connections and accept errors.
/// `drain` closes the acceptors only (true: taking their backlog first)
/// and answers with the live connections; `fds`: a duplicate of each
/// listening socket, for an upgrade to hand on (none once closing).
using listener_actor = caf::typed_actor<
  caf::replies_to<stop_atom>::with<uint64_t>, caf::reacts_to<closed_atom>,
  caf::replies_to<show_atom>::with<uint64_t, uint64_t>,
  caf::replies_to<drain_atom, bool>::with<uint64_t>,
  caf::replies_to<fds_atom>::with<std::vector<int>>>;

/// Runs one upgrade (blocking, on a detached actor of its own, so that the
/// control actor keeps answering meanwhile).
using upgrade_runner_actor = caf::typed_actor<
  caf::replies_to<upgrade_atom, std::string>::with<int32_t, int32_t,
                                                   std::string>>;

} // namespace balance
