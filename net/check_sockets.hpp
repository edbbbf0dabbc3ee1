// The idle sockets of one io thread's health checks, kept between checks
// and handed out last-in first-out.
//
// A check that ends with connect(AF_UNSPEC) leaves its socket ready to
// connect again: the disconnect resets an established connection (as a
// close with SO_LINGER {1,0} does), aborts one still in SYN_SENT and frees
// the local port. Taken again at once (on loopback a plain check ends
// inside the tick that started it), the same socket serves check after
// check while it is still in the CPU's cache: the check is three syscalls
// (connect, the zero-length send, the disconnect) where it was six, and
// neither a socket nor a file is allocated and freed for it.
// docs/architecture.md ("Health checks") has the measured effect.
#pragma once

#include <optional>
#include <vector>

#include "core/endpoint.hpp"

namespace balance::net {

class check_sockets {
public:
  /// `plain`: no --check-send/--check-expect (the handshake's last ACK is
  /// held back); `out_bind`: -B, the local address of every check.
  check_sockets(bool plain, std::optional<endpoint> out_bind);
  ~check_sockets();

  check_sockets(const check_sockets&) = delete;
  check_sockets& operator=(const check_sockets&) = delete;

  /// A socket of `family` (AF_INET/AF_INET6), non-blocking, not connected:
  /// an idle one, else a new one; -1 when this host could not make one
  /// (errno says why).
  int take(int family);
  /// Ends `fd`'s connection, if any, and keeps it for the next check of
  /// `family`; closes it if it cannot be kept.
  void give_back(int fd, int family);

private:
  int open(int family);

  /// More idle sockets than this are closed: checks that end inside their
  /// tick need one; those awaiting a far destination are in the epoll set
  /// and are not given back (docs/architecture.md).
  static constexpr std::size_t max_idle = 16;

  bool plain_;
  std::optional<endpoint> out_bind_;
  std::vector<int> idle_v4_;
  std::vector<int> idle_v6_;
};

} // namespace balance::net
