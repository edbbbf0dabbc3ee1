// The replies to `drain` and `upgrade` (new lines: no 3.54 parser reads
// them); format.hpp declares them beside the others.
#include "cli/format.hpp"

namespace balance::cli {

std::string format_drain(lifecycle_reply code, const lifecycle_status& life,
                         uint64_t live) {
  auto handed = life.successor_pid > 0
                  ? " (handed over to process "
                      + std::to_string(life.successor_pid) + ")"
                  : std::string();
  switch (code) {
    case lifecycle_reply::ok:
      return "draining: listener closed, " + std::to_string(live)
             + " connections left"
             + (life.drain_seconds_left > 0
                  ? ", at most " + std::to_string(life.drain_seconds_left)
                      + " s\n"
                  : std::string(", no time limit\n"));
    case lifecycle_reply::already: return "already draining" + handed + "\n";
    case lifecycle_reply::busy:
      return "an upgrade is under way: not draining\n";
    default: return "drain failed (" + to_string(code) + ")\n";
  }
}

std::string format_upgrade(lifecycle_reply code, int32_t pid) {
  switch (code) {
    case lifecycle_reply::ok:
      return "upgrade complete: new master process is " + std::to_string(pid)
             + "\n";
    case lifecycle_reply::busy: return "an upgrade is already under way\n";
    case lifecycle_reply::draining:
      return "the instance is draining"
             + (pid > 0 ? " (handed over to process " + std::to_string(pid)
                            + ")"
                        : std::string())
             + ": not upgrading\n";
    default: return "upgrade failed\n";
  }
}

} // namespace balance::cli
