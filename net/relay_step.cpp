#include "net/relay_step.hpp"

#include <cerrno>
#include <sys/socket.h>

#include "net/connection.hpp"

namespace balance::net {

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

std::error_code last_error() {
  return {errno, asio::error::get_system_category()};
}

} // namespace

relay_step::relay_step()
  : reactor_op(asio::error_code(), &relay_step::do_perform,
               &relay_step::do_complete) {
}

void relay_step::start(action a, tcp_socket& socket,
                       std::shared_ptr<connection> owner) {
  what = a;
  fd_ = socket.native_handle();
  owner_ = std::move(owner);
  ec_ = asio::error_code();
  if (a == action::receive)
    eof = false;
  auto type = a == action::receive ? tcp_socket::reactor_type::read_op
                                   : tcp_socket::reactor_type::write_op;
  socket.reactor().start_op(type, fd_, socket.reactor_data(), this, false,
                            true);
}

relay_step::status relay_step::do_perform(reactor_op* base) {
  auto* s = static_cast<relay_step*>(base);
  switch (s->what) {
    case action::connect: {
      // A zero-length send answers "connected yet?" in one syscall: 0 once
      // established, EAGAIN while the handshake runs, else why it failed.
      if (::send(s->fd_, "", 0, MSG_NOSIGNAL) == 0)
        return done;
      if (would_block(errno))
        return not_done;
      s->ec_ = last_error();
      return done;
    }
    case action::receive: {
      // Read until the socket says EAGAIN (or the buffer is full): only
      // then may the next receive wait for an edge without trying first. A
      // FIN that came with the data raises no new edge, so this is also
      // how EOF is seen together with the last bytes.
      s->begin = s->end = 0;
      s->buf.acquire();
      for (;;) {
        auto room = pooled_buffer::capacity() - s->end;
        auto n = ::recv(s->fd_, s->buf.data() + s->end, room, 0);
        if (n > 0) {
          s->end += static_cast<uint32_t>(n);
          if (s->end == pooled_buffer::capacity())
            return done; // more may be there: the next receive tries at once
          continue;
        }
        int err = n == 0 ? 0 : errno;
        if (err == EINTR)
          continue;
        if (n == 0)
          s->eof = true;
        else if (!would_block(err))
          s->ec_ = {err, asio::error::get_system_category()};
        if (s->end == 0)
          s->buf.reset();
        if (n < 0 && would_block(err))
          return s->end == 0 ? not_done : done_and_exhausted;
        return done;
      }
    }
    case action::send:
      while (s->begin < s->end) {
        auto n = ::send(s->fd_, s->buf.data() + s->begin, s->end - s->begin,
                        MSG_NOSIGNAL | (s->eof ? MSG_MORE : 0));
        if (n >= 0) {
          s->begin += static_cast<uint32_t>(n);
          continue;
        }
        if (errno == EINTR)
          continue;
        if (would_block(errno))
          return not_done;
        s->ec_ = last_error();
        return done;
      }
      return done;
  }
  return done;
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
