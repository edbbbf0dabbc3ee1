// Hands sockets that the control gate (or the client's dialler) has
// already authenticated to CAF's BASP broker, as if CAF's own doorman had
// accepted them or its middleman had connected them. CAF never opens a
// control socket of its own, so nothing unauthenticated reaches its parser.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <caf/fwd.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/protocol.hpp"

namespace balance {

/// Server side: BASP takes `fd` (owning it) and greets the peer with
/// `whom` published under `door`. Callable from any thread.
bool basp_accept(caf::actor_system& sys, int fd, uint16_t door,
                 const caf::strong_actor_ptr& whom,
                 const std::set<std::string>& interface);

/// Client side: BASP takes `fd` and waits (bounded) for the server's
/// handshake; the control actor it announces, or nullopt and `error`.
/// The actor needs 3.54's commands (control_base) only; which of the
/// later requests it has is in `interface` (see has_lifecycle).
std::optional<control_actor>
basp_connect(caf::scoped_actor& self, int fd,
             std::chrono::milliseconds timeout, std::string& error,
             std::set<std::string>* interface = nullptr);

/// Whether a control actor with this interface answers drain, upgrade and
/// lifecycle (a daemon built before them does not).
bool has_lifecycle(caf::actor_system& sys,
                   const std::set<std::string>& interface);

/// CAF 0.17's broker keeps one entry per peer node it ever met (its
/// `spawn_servers`, never purged), and a helper actor per node that lives
/// up to 5 minutes; every control client is a new node: about 1.7 KB per
/// `balance -c` call. Drops the entries, and ends the helpers, of nodes
/// that are no longer connected; call it now and then (the watchdog).
void basp_forget_departed_nodes(caf::actor_system& sys);

} // namespace balance
