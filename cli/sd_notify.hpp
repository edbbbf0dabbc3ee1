// systemd's readiness protocol (sd_notify(3)) without libsystemd: one
// datagram per state to the AF_UNIX socket named by $NOTIFY_SOCKET. A
// no-op when balance was not started by systemd with Type=notify.
#pragma once

#include <string>

namespace balance::cli {

/// Sends `state` (e.g. "READY=1", "STOPPING=1", "STATUS=...") if
/// $NOTIFY_SOCKET is set; false if it is set and the send failed.
bool sd_notify_state(const std::string& state);

/// Listening sockets handed over by systemd (socket activation): the first
/// of $LISTEN_FDS (descriptor 3) when $LISTEN_PID is this process, else -1.
/// The variables are cleared so that children do not take them.
int sd_listen_fd();

} // namespace balance::cli
