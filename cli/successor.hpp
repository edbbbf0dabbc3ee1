// The old process's side of an upgrade, as processes and descriptors:
// starts the new binary with this instance's command line, the listening
// sockets at descriptor 3 on ($LISTEN_FDS/$LISTEN_FDNAMES/$LISTEN_PID, as
// systemd passes them), the runtime state and a readiness pipe
// ($BALANCE_HANDOVER, cli/handover.hpp), and waits, bounded, for it to say
// it is ready. A new process that fails is killed by its pid and reaped,
// and the reason comes back with what it wrote to stderr.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace balance::cli {

/// How this process was started: what its successor is started with.
struct launch_info {
  std::vector<std::string> argv; ///< the command line as given
  std::string cwd;               ///< where (relative paths in argv)
  std::string exe;               ///< the binary, as /proc/self/exe said then
};

/// Taken at the very start of main (before daemonising changes the
/// working directory).
launch_info current_launch(int argc, char** argv);

/// The binary an upgrade starts: `requested` (absolute), or the running
/// binary as it is on disk now: /proc/self/exe, whose name says
/// " (deleted)" once a package replaced the file, which is then the new
/// binary at the path this one was started from. "" and `error` if none.
std::string upgrade_binary(const std::string& requested,
                           const launch_info& launch, std::string& error);

struct successor_plan {
  std::string binary;
  launch_info launch;
  std::vector<int> proxy_fds; ///< listening; the plan does not own them
  int control_local = -1;
  int control_tcp = -1;
  int metrics = -1; ///< --metrics-listen's
  std::string state; ///< serialised handover_state
};

struct successor_result {
  bool ok = false;
  int pid = 0;
  std::string message; ///< why not, and the new process's stderr
};

/// Holds the io threads while the child's copy of every descriptor exists
/// (null: they could not be held; the upgrade is then refused).
using pause_function = std::function<std::shared_ptr<void>()>;

/// Starts the new process; `ready_within` bounds the whole start.
/// `pending` holds the new process's pid until it is ready or gone (so a
/// `kill` meanwhile can end it too).
successor_result start_successor(const successor_plan& plan,
                                 const pause_function& pause,
                                 std::chrono::milliseconds ready_within,
                                 std::atomic<int>& pending);

} // namespace balance::cli
