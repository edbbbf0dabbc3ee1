// The parent half of starting an upgrade's new process, once forked: the
// waits (for its exec, for its readiness verdict), ending a new process
// that failed, and saying why it failed.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace balance::cli {

/// Reads the child's report pipe (cli/successor_child.hpp): 'c', then EOF
/// (the exec happened) or 'e' + errno. Returns the errno of a failed
/// exec, else 0. `on_closed` runs as soon as the child holds none of our
/// descriptors any more (at the latest after 2 s).
int await_exec(int report_fd, const std::function<void()>& on_closed);

/// How the wait for the readiness verdict ended.
struct verdict_wait {
  std::string verdict; ///< "0\n" or "<code> <message>\n" (cli/daemon.hpp)
  bool timed_out = false;
  bool reaped = false; ///< it exited, and `status` says how
  int status = 0;

  bool ready() const { return verdict.rfind("0\n", 0) == 0 && !reaped; }
};

/// Until a verdict line, EOF, the child's exit or `deadline`.
verdict_wait await_verdict(int ready_fd, int pid,
                           std::chrono::steady_clock::time_point deadline);

/// SIGKILL to it and its process group, then its exit status (bounded).
void kill_and_reap(int pid, verdict_wait& w);

/// Why it failed, with the tail of what it wrote to `stderr_fd`.
std::string explain_failure(const std::string& binary, int pid,
                            int exec_errno, const verdict_wait& w,
                            bool was_alive, std::chrono::milliseconds limit,
                            int stderr_fd);

} // namespace balance::cli
