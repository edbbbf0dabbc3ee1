#include "net/relay_step.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace balance::net {

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

std::error_code error_of(int err) {
  return {err, std::system_category()};
}

} // namespace

bool relay_step::receive(int fd, bool short_read_drains) {
  ec.clear();
  eof = false;
  aborted = false;
  drained = false;
  begin = end = 0;
  buf.acquire();
  for (;;) {
    auto want = pooled_buffer::capacity() - end;
    auto n = ::recv(fd, buf.data() + end, want, 0);
    if (n > 0) {
      end += static_cast<uint32_t>(n);
      if (end == pooled_buffer::capacity())
        return true;
      if (static_cast<std::size_t>(n) < want && short_read_drains) {
        // The receive queue is empty now; anything later raises an edge.
        drained = true;
        return true;
      }
      continue;
    }
    int err = n == 0 ? 0 : errno;
    if (err == EINTR)
      continue;
    if (n == 0)
      eof = true;
    else if (would_block(err))
      drained = true;
    else {
      // Bytes queued before a reset are still read first; the error is
      // reported once, so it is kept here until they are delivered.
      ec = error_of(err);
      aborted = true;
    }
    if (end == 0)
      buf.reset();
    return end > 0 || !drained;
  }
}

bool relay_step::send(int fd) {
  ec.clear();
  while (begin < end) {
    // With EOF behind these bytes, MSG_MORE holds them for the FIN that
    // shutdown() sends next: one segment instead of two.
    auto n = ::send(fd, buf.data() + begin, end - begin,
                    MSG_NOSIGNAL | (eof ? MSG_MORE : 0));
    if (n >= 0) {
      begin += static_cast<uint32_t>(n);
      continue;
    }
    if (errno == EINTR)
      continue;
    if (would_block(errno))
      return false;
    ec = error_of(errno);
    return true;
  }
  return true;
}

bool relay_step::connected(int fd) {
  // A zero-length send answers "connected yet?" in one syscall: 0 once
  // established, EAGAIN while the handshake runs, else why it failed.
  ec.clear();
  if (::send(fd, "", 0, MSG_NOSIGNAL) == 0)
    return true;
  if (would_block(errno))
    return false;
  ec = error_of(errno);
  return true;
}

} // namespace balance::net
