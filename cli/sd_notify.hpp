// systemd's readiness protocol (sd_notify(3)) without libsystemd: one
// datagram per state to the AF_UNIX socket named by $NOTIFY_SOCKET. A
// no-op when balance was not started by systemd with Type=notify. And the
// other half, sd_listen_fds(3): listening sockets passed in, by systemd
// (socket activation) or by the process an upgrade replaces.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace balance::cli {

/// Sends `state` (e.g. "READY=1", "STOPPING=1", "STATUS=...") if
/// $NOTIFY_SOCKET is set; false if it is set and the send failed, or the
/// reader's queue stayed full for `patience` (the notice is dropped then:
/// never blocks for longer).
bool sd_notify_state(const std::string& state,
                     std::chrono::milliseconds patience =
                       std::chrono::seconds(1));

/// $LISTEN_FDNAMES of the control doors an upgrade passes on; every other
/// name (systemd's default is the socket unit's) is a proxy listener.
constexpr const char* control_local_fd_name = "control-local";
constexpr const char* control_tcp_fd_name = "control-tcp";
constexpr const char* metrics_fd_name = "metrics";
constexpr const char* proxy_fd_name = "proxy";

struct inherited_sockets {
  std::vector<int> proxy;
  int control_local = -1;
  int control_tcp = -1;
  int metrics = -1; ///< --metrics-listen's
};

/// The descriptors from 3 on that $LISTEN_FDS counts, when $LISTEN_PID is
/// this process, sorted by $LISTEN_FDNAMES; only listening sockets are
/// taken (others are closed). The variables are cleared so that children
/// do not take them.
inherited_sockets sd_listen_fds();

} // namespace balance::cli
