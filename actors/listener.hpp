// The listener actor: owns the accepting sockets (one per io thread, or
// those an upgrade handed over), starts a session per client; on `stop`
// closes them and every live connection, on `drain` only them.
#pragma once

#include <memory>
#include <vector>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "net/acceptor.hpp"
#include "net/connection.hpp"
#include "net/connection_registry.hpp"
#include "net/io_pool.hpp"

namespace balance {

/// What the listener needs from the instance (all outlive the actor).
struct listener_config {
  net::io_pool* pool = nullptr;
  /// Bound and listening: one (ours), or every socket an upgrade or
  /// systemd handed over; io threads beyond them get SO_REUSEPORT siblings
  /// of the first, sockets beyond the io threads share a thread.
  std::vector<int> listen_fds;
  std::shared_ptr<const net::relay_settings> settings;
  directory_ptr directory;
  net::connection_registry* registry = nullptr;
};

struct listener_state {
  listener_config config;
  std::vector<std::unique_ptr<net::acceptor>> acceptors;
  std::vector<int> fds; ///< each acceptor's socket, for `fds`
  std::size_t open_acceptors = 0; ///< not yet closed once closing
  bool closing = false;
  bool closed = false;
  /// Every `stop` asked while the acceptors close (a timed-out kill, a
  /// second kill, a signal); all are answered when they have, and then
  /// the connections are closed.
  std::vector<caf::typed_response_promise<uint64_t>> stopping;
  /// Every `drain` asked meanwhile: answered with the live connections.
  std::vector<caf::typed_response_promise<uint64_t>> draining;
  static inline const char* name = "balance.listener";
};

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config);

} // namespace balance
