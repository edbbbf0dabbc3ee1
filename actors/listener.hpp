// The listener actor: owns the accepting sockets (one per io thread), starts
// a session per client, and on `stop` closes them and every live connection.
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
  int listen_fd = -1;
  std::shared_ptr<const net::relay_settings> settings;
  directory_ptr directory;
  net::connection_registry* registry = nullptr;
};

struct listener_state {
  listener_config config;
  std::vector<std::unique_ptr<net::acceptor>> acceptors;
  std::size_t open_acceptors = 0; ///< not yet closed once stopping
  bool stopping = false;
  bool stopped = false;
  /// Every `stop` asked while the acceptors close (a timed-out kill, a
  /// second kill, a signal); all are answered when they have.
  std::vector<caf::typed_response_promise<uint64_t>> waiting;
  static inline const char* name = "balance.listener";
};

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config);

} // namespace balance
