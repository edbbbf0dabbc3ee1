// Runs one proxy instance: the actor system, the io threads, a scheduler
// per group, the listener, the control actor on the middleman and the
// rendezvous file; returns when `kill`, a signal or a finished drain stops
// it. An instance started by an upgrade takes over the sockets, state and
// control endpoint of the one it replaces.
#pragma once

#include <optional>
#include <vector>

#include "cli/daemon.hpp"
#include "cli/handover.hpp"
#include "cli/options.hpp"
#include "cli/successor.hpp"

namespace balance::cli {

/// What main found before the instance starts.
struct instance_start {
  /// Bound and listening already (before daemonising): ours, systemd's or
  /// the replaced process's.
  std::vector<int> listen_fds;
  int control_local = -1; ///< an upgrade's control doors (-1: none)
  int control_tcp = -1;
  int metrics = -1; ///< and its --metrics-listen socket
  std::optional<handover> handed; ///< started by an upgrade
  launch_info launch;             ///< for an upgrade of this instance
};

int run_instance(const options& opts, instance_start& start,
                 readiness& ready);

} // namespace balance::cli
