// The control actor: the one actor the outside world talks to (published
// on CAF's middleman). It checks the instance secret on every request and
// answers by asking the group schedulers and the listener.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "core/lifecycle.hpp"

namespace balance::net {
class connection_registry;
} // namespace balance::net

namespace balance {

/// How an upgrade went (actors/control_lifecycle.cpp).
struct upgrade_outcome {
  lifecycle_reply code = lifecycle_reply::failed;
  int32_t pid = 0;     ///< the new process
  std::string message; ///< why not, with the new process's stderr
};

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

  // -- drain and upgrade (null: the instance offers neither) ----------------
  std::shared_ptr<lifecycle> life;
  /// How long a drain may take (--drain-timeout; 0 = no limit).
  std::chrono::seconds drain_timeout{30};
  /// Runs once a drain began (the listeners are closed), with the number
  /// of connections left; the instance's main loop does the rest.
  std::function<void(uint64_t live)> on_drain;
  /// Starts the new process and hands the instance over to it (blocking:
  /// runs on an actor of its own); "" = the running binary.
  std::function<upgrade_outcome(const std::string& path)> upgrade;
};

struct control_state {
  control_config config;
  bool killing = false;
  /// A drain asked for: no upgrade may begin while the listeners close.
  bool drain_requested = false;
  /// The actor running an upgrade, held until it answered (an actor that
  /// nobody holds may be ended before it ran).
  upgrade_runner_actor runner;
  static inline const char* name = "balance.control";
};

using control_pointer = control_actor::stateful_pointer<control_state>;

/// Spawn detached: `create`/`assign` resolve names and `kill` waits for
/// connections to drain, neither of which may block a scheduler worker.
control_actor::behavior_type control(control_pointer self,
                                     control_config config);

// The lifecycle requests, each after the secret was checked
// (actors/control_lifecycle.cpp).
caf::result<int32_t> on_drain(control_pointer self);
caf::result<int32_t, int32_t, std::string>
on_upgrade(control_pointer self, const std::string& path);
caf::result<uint32_t, uint64_t, int32_t> on_lifecycle(control_pointer self);

} // namespace balance

namespace balance {

/// Published for mutual-TLS clients: the certificate is their credential,
/// so this front adds the instance secret and delegates to `inner`.
control_actor::behavior_type control_front(control_actor::pointer self,
                                           control_actor inner,
                                           std::string secret);

} // namespace balance
