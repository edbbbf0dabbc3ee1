// The instance's main thread once it serves: takes the signals (SIGTERM,
// SIGINT and SIGHUP stop at once, SIGQUIT drains), runs the control
// plane's watchdog, reports STATUS to systemd, and ends a drain when the
// last connection is gone or its deadline has passed.
#pragma once

#include <atomic>
#include <csignal>

#include "actors/protocol.hpp"
#include "core/lifecycle.hpp"

namespace balance::net {
class connection_registry;
} // namespace balance::net

namespace balance::cli {

class control_plane;

/// What the loop watches (all outlive it).
struct instance_loop {
  sigset_t stop_signals;
  const std::atomic<bool>* killed = nullptr; ///< `kill` ran
  control_plane* control = nullptr;
  caf::actor_system* sys = nullptr;
  listener_actor listener;
  net::connection_registry* registry = nullptr;
  const lifecycle* life = nullptr;
  std::string secret;
  std::string status_sent; ///< the last STATUS systemd took
};

/// Blocks the signals the loop takes (every thread started later inherits
/// the mask; one ignored since startup, as under nohup, stays ignored) and
/// ignores SIGPIPE; returns them.
sigset_t block_stop_signals();

/// Returns once `kill` has run, a signal stopped the instance (listener
/// and connections closed, bounded) or a drain is over (the last
/// connection gone, or the rest cut at the deadline); the control plane
/// is closed then. When control cannot be restored the instance stops as
/// on SIGTERM.
void run_until_stopped(instance_loop& loop);

} // namespace balance::cli
