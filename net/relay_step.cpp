#include "net/relay_step.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>

namespace balance::net {

namespace {

// One splice asks for this much; the pipe takes what fits (256 KiB).
constexpr std::size_t splice_request = 1 << 20;
// A splice that moves less than this means the messages are small again:
// copying them costs one syscall less per message (no EAGAIN splice).
constexpr ssize_t small_message = 4096;

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
  if (splicing && may_splice && pipe.acquire())
    return splice_in(fd);
  splicing = false;
  return copy_in(fd, short_read_drains);
}

bool relay_step::copy_in(int fd, bool short_read_drains) {
  buf.acquire();
  for (;;) {
    auto want = pooled_buffer::capacity() - end;
    auto n = ::recv(fd, buf.data() + end, want, 0);
    if (n > 0) {
      end += static_cast<uint32_t>(n);
      if (end == pooled_buffer::capacity()) {
        splicing = may_splice; // a bulk transfer: splice from now on
        return true;
      }
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

bool relay_step::splice_in(int fd) {
  buf.reset();
  // The pipe is empty here (nothing pending), so the pipe is not what
  // stops it. A short splice proves nothing (the pipe may have run out of
  // slots first): the socket counts as drained only once recv says so.
  for (;;) {
    auto n = ::splice(fd, nullptr, pipe.write_fd(), nullptr, splice_request,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      piped = static_cast<uint32_t>(n);
      if (n < small_message)
        splicing = false;
      return true;
    }
    if (n < 0 && errno == EINTR)
      continue;
    pipe.reset(false);
    if (n < 0 && !would_block(errno)) {
      ec = error_of(errno);
      aborted = true;
      return true;
    }
    // splice also stops at an urgent mark (0 with a FIN behind it, else
    // EAGAIN) and may give up for want of memory: recv has the last word.
    return copy_in(fd, false);
  }
}

bool relay_step::send(int fd) {
  ec.clear();
  return piped > 0 ? splice_out(fd) : copy_out(fd);
}

bool relay_step::copy_out(int fd) {
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

bool relay_step::splice_out(int fd) {
  // No MSG_NOSIGNAL for splice: the daemon ignores SIGPIPE.
  while (piped > 0) {
    auto n = ::splice(pipe.read_fd(), nullptr, fd, nullptr, piped,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      piped -= static_cast<uint32_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && would_block(errno))
      return false;
    ec = error_of(n < 0 ? errno : EPIPE);
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

void relay_step::release() {
  buf.reset();
  pipe.reset(piped > 0);
  piped = 0;
  begin = end = 0;
}

} // namespace balance::net
