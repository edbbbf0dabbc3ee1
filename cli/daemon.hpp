// Daemonising with a readiness pipe: the command returns only once the
// child listens and is controllable (or with the child's error and code).
#pragma once

#include <string>
#include <utility>

namespace balance::cli {

class readiness {
public:
  readiness() = default;
  explicit readiness(int fd) : fd_(fd) {}
  /// Tells the waiting parent that the daemon is up.
  void ok();
  /// Tells the waiting parent to print `message` and exit with `code`.
  void fail(int code, const std::string& message);

private:
  int fd_ = -1;
};

/// Whether `sig` was ignored when the process started (nohup ignores
/// SIGHUP, a shell's background job SIGINT): such an ignore is kept.
bool inherited_ignore(int sig);

/// Forks. The parent waits for the child's verdict and exits with it; only
/// the child returns. stdin, and stdout/stderr unless kept, go to /dev/null.
readiness daemonize(bool keep_stdout, bool keep_stderr);

/// Raises the soft RLIMIT_NOFILE to the hard limit (a proxy's connections
/// are its descriptors; the common soft 1024 holds about 500 of them).
/// Returns the soft limit before and after.
std::pair<unsigned long, unsigned long> raise_descriptor_limit();

} // namespace balance::cli
