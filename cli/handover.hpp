// The new process's side of an upgrade: what the process it replaces
// handed over besides the listening sockets ($LISTEN_FDS, sd_notify.hpp):
// the runtime state, where to say "ready", and the stderr to keep once it
// is. All of it is checked before it is used; nothing is trusted because
// it came through an inherited descriptor.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "cli/options.hpp"
#include "core/handover_state.hpp"

namespace balance::cli {

/// "<state fd>:<ready fd>:<stderr fd>", set only for a process an upgrade
/// starts (cli/successor.cpp).
constexpr const char* handover_env = "BALANCE_HANDOVER";

struct handover {
  handover_state state;
  int ready_fd = -1;  ///< the readiness protocol (cli/daemon.hpp)
  int stderr_fd = -1; ///< the old process's stderr
};

/// Three descriptor numbers, each from 3 to 65535, separated by ':';
/// nullopt for anything else.
std::optional<std::array<int, 3>> parse_handover_env(const std::string& value);

/// nullopt and "" in `error` when this process was not started by an
/// upgrade; nullopt and the reason when the hand-over is broken (the
/// caller fails: the old process shows the reason). Reads the state (and
/// closes its descriptor) and clears the variable.
std::optional<handover> take_handover(std::string& error);

/// That the process handing over is our parent and owns the control file
/// the state names (its pid and secret are in it): "" if so, or when the
/// file is gone (a cleaner of /tmp; we write it anew), else why not.
std::string check_handover_origin(const handover_state& state);

/// Where the instance's control file goes: where the replaced process had
/// it, once check_handover_origin found the hand-over genuine, else the
/// first usable runtime directory (cli/rendezvous.hpp). nullopt, the exit
/// code and the reason when neither is to be had.
std::optional<std::string> control_file_for(const options& opts,
                                            const handover* handed,
                                            int& code, std::string& error);

/// Once ready: stderr is the old process's again (until then it went to a
/// capture the upgrade shows if this process fails to start), and a
/// daemon leaves the directory it was started in, as daemonising does.
void settle_after_handover(handover& h, bool foreground);

} // namespace balance::cli
