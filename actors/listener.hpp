// The listener actor: owns the accepting sockets (one per io thread), starts
// a session per client, and on `stop` closes them and every live connection.
#pragma once

#include <memory>
#include <vector>

#include "actors/directory.hpp"
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
  std::vector<std::unique_ptr<net::acceptor>> acceptors;
  static inline const char* name = "balance.listener";
};

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config);

} // namespace balance
