// The listener actor: owns the accepting socket, spawns a session actor per
// client, and on `stop` closes the listener and every live connection.
#pragma once

#include <memory>

#include "actors/session.hpp"
#include "net/acceptor.hpp"
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

using listener_actor = caf::typed_actor<
  caf::replies_to<stop_atom>::with<uint64_t>,
  caf::replies_to<show_atom>::with<uint64_t, uint64_t>>;

struct listener_state {
  listener_config config;
  std::unique_ptr<net::acceptor> acceptor;
  static inline const char* name = "balance.listener";
};

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config);

} // namespace balance
