// Whose fault a failed connect attempt is: the channel's (refused,
// unreachable, timed out), which -a punishes by disabling it, or this
// host's, which must not cost a healthy channel its place; and the
// non-blocking connect's one-syscall "done yet?" that clients' connects
// and health checks share.
#pragma once

#include <cerrno>
#include <sys/socket.h>
#include <system_error>

#include "core/vocabulary.hpp"

namespace balance::net {

/// True for bind()/connect() errors that say nothing about the channel:
/// out of ephemeral ports or the -B address gone (EADDRNOTAVAIL), the
/// address taken (EADDRINUSE), a -B address of the wrong family
/// (EAFNOSUPPORT, EINVAL), and out of buffers, memory or descriptors.
inline bool is_local_connect_error(int err) {
  switch (err) {
    case EADDRNOTAVAIL:
    case EADDRINUSE:
    case EAFNOSUPPORT:
    case EINVAL:
    case ENOBUFS:
    case ENOMEM:
    case EMFILE:
    case ENFILE: return true;
    default: return false;
  }
}

/// Whether a non-blocking connect on `fd` has finished: false while it
/// runs, true once established or failed (`ec`). A zero-length send
/// answers in one syscall: 0 once established, EAGAIN while the handshake
/// runs, else why it failed.
inline bool connect_finished(int fd, std::error_code& ec) {
  ec.clear();
  if (::send(fd, "", 0, MSG_NOSIGNAL) == 0)
    return true;
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return false;
  ec = {errno, std::system_category()};
  return true;
}

/// What `health` and the logs call a failed connect's errno.
inline check_error check_error_of(int err) {
  switch (err) {
    case ECONNREFUSED: return check_error::refused;
    case ETIMEDOUT: return check_error::timeout;
    case ECONNRESET: return check_error::reset;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN: return check_error::unreachable;
    default: return check_error::failed;
  }
}

} // namespace balance::net
