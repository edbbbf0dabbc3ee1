#include "net/relay_step.hpp"

#include <cerrno>
#include <sys/socket.h>

#include "net/connection.hpp"

namespace balance::net {

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

} // namespace

relay_step::relay_step()
  : reactor_op(asio::error_code(), &relay_step::do_perform,
               &relay_step::do_complete) {
}

bool relay_step::receive(int fd) {
  ec_ = asio::error_code();
  eof = false;
  drained = false;
  begin = end = 0;
  buf.acquire();
  for (;;) {
    auto n = ::recv(fd, buf.data() + end, pooled_buffer::capacity() - end, 0);
    if (n > 0) {
      end += static_cast<uint32_t>(n);
      if (end == pooled_buffer::capacity())
        return true;
      continue;
    }
    int err = n == 0 ? 0 : errno;
    if (err == EINTR)
      continue;
    if (n == 0)
      eof = true;
    else if (would_block(err))
      drained = true;
    else
      ec_ = {err, asio::error::get_system_category()};
    if (end == 0)
      buf.reset();
    return end > 0 || !drained;
  }
}

bool relay_step::send(int fd) {
  ec_ = asio::error_code();
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
    ec_ = {errno, asio::error::get_system_category()};
    return true;
  }
  return true;
}

bool relay_step::connected(int fd) {
  // A zero-length send answers "connected yet?" in one syscall: 0 once
  // established, EAGAIN while the handshake runs, else why it failed.
  ec_ = asio::error_code();
  if (::send(fd, "", 0, MSG_NOSIGNAL) == 0)
    return true;
  if (would_block(errno))
    return false;
  ec_ = {errno, asio::error::get_system_category()};
  return true;
}

void relay_step::wait(action a, tcp_socket& socket,
                      std::shared_ptr<connection> owner) {
  what = a;
  owner_ = std::move(owner);
  ec_ = asio::error_code();
  auto type = a == action::receive ? tcp_socket::reactor_type::read_op
                                   : tcp_socket::reactor_type::write_op;
  // start_op tries the operation at once when it may be ready: the caller
  // has just seen EAGAIN, so that try must not count as readiness.
  starting_ = true;
  socket.reactor().start_op(type, socket.native_handle(),
                            socket.reactor_data(), this, false, true);
  starting_ = false;
}

relay_step::status relay_step::do_perform(reactor_op* base) {
  auto* s = static_cast<relay_step*>(base);
  return s->starting_ ? not_done : done;
}

void relay_step::do_complete(void* owner, asio::detail::operation* base,
                             const asio::error_code&, std::size_t) {
  auto* s = static_cast<relay_step*>(base);
  auto keep = std::move(s->owner_);
  if (owner == nullptr)
    return; // the io_context is being destroyed: only let go of the owner
  keep->on_step(*s);
}

} // namespace balance::net
