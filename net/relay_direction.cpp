#include "net/relay_direction.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>

namespace balance::net {

namespace {

// One splice asks for this much; the pipe takes what fits (1 MiB or less).
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

bool relay_direction::receive(int fd, bool short_read_drains) {
  ec_.clear();
  eof_ = false;
  aborted_ = false;
  drained_ = false;
  begin_ = end_ = 0;
  if (splicing_ && may_splice_ && pipe_.acquire())
    return splice_in(fd);
  splicing_ = false;
  return copy_in(fd, short_read_drains);
}

bool relay_direction::copy_in(int fd, bool short_read_drains) {
  buf_.acquire();
  for (;;) {
    auto want = pooled_buffer::capacity() - end_;
    auto n = ::recv(fd, buf_.data() + end_, want, 0);
    if (n > 0) {
      end_ += static_cast<uint32_t>(n);
      if (end_ == pooled_buffer::capacity()) {
        splicing_ = may_splice_; // a bulk transfer: splice from now on
        return true;
      }
      if (static_cast<std::size_t>(n) < want && short_read_drains) {
        // The receive queue is empty now; anything later raises an edge.
        drained_ = true;
        return true;
      }
      continue;
    }
    int err = n == 0 ? 0 : errno;
    if (err == EINTR)
      continue;
    if (n == 0)
      eof_ = true;
    else if (would_block(err))
      drained_ = true;
    else {
      // Bytes queued before a reset are still read first; the error is
      // reported once, so it is kept here until they are delivered.
      ec_ = error_of(err);
      aborted_ = true;
    }
    if (end_ == 0)
      buf_.reset();
    return end_ > 0 || !drained_;
  }
}

bool relay_direction::splice_in(int fd) {
  buf_.reset();
  // The pipe is empty here (nothing pending), so the pipe is not what
  // stops it. A short splice proves nothing (the pipe may have run out of
  // slots first): the socket counts as drained only once recv says so.
  for (;;) {
    auto n = ::splice(fd, nullptr, pipe_.write_fd(), nullptr, splice_request,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      piped_ = static_cast<uint32_t>(n);
      if (n < small_message)
        splicing_ = false;
      return true;
    }
    if (n < 0 && errno == EINTR)
      continue;
    pipe_.reset(false);
    if (n < 0 && !would_block(errno)) {
      ec_ = error_of(errno);
      aborted_ = true;
      return true;
    }
    // splice also stops at an urgent mark (0 with a FIN behind it, else
    // EAGAIN) and may give up for want of memory: recv has the last word.
    return copy_in(fd, false);
  }
}

bool relay_direction::send(int fd) {
  ec_.clear();
  return piped_ > 0 ? splice_out(fd) : copy_out(fd);
}

bool relay_direction::copy_out(int fd) {
  while (begin_ < end_) {
    // With EOF behind these bytes, MSG_MORE holds them for the FIN that
    // shutdown() sends next: one segment instead of two.
    auto n = ::send(fd, buf_.data() + begin_, end_ - begin_,
                    MSG_NOSIGNAL | (eof_ ? MSG_MORE : 0));
    if (n >= 0) {
      begin_ += static_cast<uint32_t>(n);
      continue;
    }
    if (errno == EINTR)
      continue;
    if (would_block(errno))
      return false;
    ec_ = error_of(errno);
    return true;
  }
  return true;
}

bool relay_direction::splice_out(int fd) {
  // No MSG_NOSIGNAL for splice: the daemon ignores SIGPIPE.
  while (piped_ > 0) {
    auto n = ::splice(pipe_.read_fd(), nullptr, fd, nullptr, piped_,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      piped_ -= static_cast<uint32_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && would_block(errno))
      return false;
    ec_ = error_of(n < 0 ? errno : EPIPE);
    return true;
  }
  return true;
}

void relay_direction::release() {
  buf_.reset();
  pipe_.reset(piped_ > 0);
  piped_ = 0;
  begin_ = end_ = 0;
}

} // namespace balance::net
