// The control actor: the one actor the outside world talks to (published
// on CAF's middleman). It checks the instance secret on every request and
// answers by asking the group schedulers and the listener.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"

namespace balance::net {
class connection_registry;
} // namespace balance::net

namespace balance {

struct control_config {
  std::string secret;
  directory_ptr directory;
  listener_actor listener;
  net::connection_registry* registry = nullptr;
  /// Runs once the listener and every connection are closed by `kill`
  /// (removes the rendezvous file, tells main to exit).
  std::function<void()> on_killed;
  /// When the instance started (uptime survives a restarted control actor).
  std::chrono::steady_clock::time_point started =
    std::chrono::steady_clock::now();
};

struct control_state {
  control_config config;
  bool killing = false;
  static inline const char* name = "balance.control";
};

using control_pointer = control_actor::stateful_pointer<control_state>;

/// Spawn detached: `create`/`assign` resolve names and `kill` waits for
/// connections to drain, neither of which may block a scheduler worker.
control_actor::behavior_type control(control_pointer self,
                                     control_config config);

} // namespace balance

namespace balance {

/// Published for mutual-TLS clients: the certificate is their credential,
/// so this front adds the instance secret and delegates to `inner`.
control_actor::behavior_type control_front(control_actor::pointer self,
                                           control_actor inner,
                                           std::string secret);

} // namespace balance
