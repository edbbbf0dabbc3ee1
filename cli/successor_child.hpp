// The child half of starting an upgrade's new process: everything it does
// between fork and exec, prepared by the parent beforehand, because the
// parent has threads and a lock one of them held at the fork would never
// be released in the child: so the child only makes system calls (no
// allocation, no stdio, no locks).
#pragma once

#include <cstddef>

namespace balance::cli {

/// What the child does, prepared before the fork.
struct child_plan {
  const char* binary = nullptr;
  const char* cwd = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const int* sources = nullptr; ///< passed on at targets[i]
  const int* targets = nullptr;
  int* scratch = nullptr; ///< room for count + 1 descriptors
  std::size_t count = 0;
  int stderr_source = -1; ///< becomes the child's stderr (a capture)
  int report_source = -1; ///< the report pipe before it is moved
  int report_target = -1; ///< ... and after (close-on-exec)
  char* listen_pid = nullptr; ///< the digits of "LISTEN_PID=..."
  int close_from = 0;         ///< every descriptor from here is closed
  int close_limit = 0;        ///< without close_range, up to here
};

/// The child: signals as a new process has them, its own process group (a
/// failed start is killed with whatever it started), the descriptors of
/// the plan and no other, then exec. Writes 'c' to the report pipe once
/// the parent's other descriptors are closed, 'e' + errno if a step
/// failed (then exits 127).
[[noreturn]] void run_child(const child_plan& p);

} // namespace balance::cli
