// Whose fault a failed connect attempt is: the channel's (refused,
// unreachable, timed out), which -a punishes by disabling it, or this
// host's, which must not cost a healthy channel its place.
#pragma once

#include <cerrno>

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

} // namespace balance::net
