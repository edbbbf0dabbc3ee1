#include "net/check_sockets.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/bind_local.hpp"

namespace balance::net {

check_sockets::check_sockets(bool plain, std::optional<endpoint> out_bind)
  : plain_(plain), out_bind_(std::move(out_bind)) {}

check_sockets::~check_sockets() {
  for (auto* idle : {&idle_v4_, &idle_v6_})
    for (int fd : *idle)
      ::close(fd);
}

int check_sockets::take(int family) {
  auto& idle = family == AF_INET6 ? idle_v6_ : idle_v4_;
  if (idle.empty())
    return open(family);
  int fd = idle.back();
  idle.pop_back();
  return fd;
}

void check_sockets::give_back(int fd, int family) {
  auto& idle = family == AF_INET6 ? idle_v6_ : idle_v4_;
  sockaddr unspecified{};
  unspecified.sa_family = AF_UNSPEC;
  if (idle.size() < max_idle
      && ::connect(fd, &unspecified, sizeof(unspecified)) == 0)
    idle.push_back(fd);
  else
    ::close(fd); // SO_LINGER {1,0}: a reset all the same
}

int check_sockets::open(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  // A reset instead of a FIN when the socket is closed mid-check: the
  // destination sees no session to log and keeps no TIME_WAIT for it.
  linger abortive{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
  if (plain_) {
    // A plain connect check, as HAProxy's layer-4 one: the handshake's
    // last ACK is held back (as if data were about to ride on it), so the
    // reset goes instead. The SYN-ACK proves the listener; the
    // destination's application never sees a connection (no accept, no
    // wake-up, nothing to log) and the check costs a third less CPU here.
    // On a connecting socket TCP_DEFER_ACCEPT holds the ACK back as
    // TCP_QUICKACK off does (tcp_rcv_synsent_state_process), and unlike
    // the latter it survives the disconnect: set once, not per check.
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &on, sizeof(on));
  }
  if (out_bind_) {
    // Bound once: the address stays with the socket across checks, the
    // port is the kernel's pick at each connect.
    if (!bind_local_address(fd, *out_bind_)) {
      int err = errno;
      ::close(fd);
      errno = err;
      return -1;
    }
  }
  return fd;
}

} // namespace balance::net
