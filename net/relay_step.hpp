// One direction of a connection's relay: the bytes in flight, the I/O that
// moves them, and an Asio reactor operation that waits for readiness.
//
// The I/O runs in the connection's handlers: receive reads until EAGAIN (a
// FIN that came with the last bytes raises no new edge, so stopping at a
// short read could miss it), send writes until done or EAGAIN. Only after
// the handler itself met EAGAIN does it queue the step with wait(), which
// costs no syscall: the edge-triggered registration reports the next
// change. socket::async_wait would cost an allocation and an
// epoll_ctl(MOD) per wait, and a completion posted through the scheduler
// (one more epoll_wait) per step.
#pragma once

#include <cstdint>
#include <memory>

#include <asio/detail/reactor_op.hpp>

#include "net/buffer_pool.hpp"
#include "net/tcp_socket.hpp"

namespace balance::net {

class connection;

class relay_step : public asio::detail::reactor_op {
public:
  enum class action : uint8_t { connect, receive, send };

  relay_step();

  /// Reads from `fd` into `buf` until EAGAIN, EOF, an error or a full
  /// buffer. False: nothing there (EAGAIN at once). True: bytes in
  /// [0, end), and/or `eof`, and/or `ec_`; `drained` says EAGAIN ended it.
  bool receive(int fd);
  /// Sends [begin, end) to `fd`. False: the socket is full (EAGAIN),
  /// wait(send) for the rest. True: all sent, or `ec_` says why not.
  bool send(int fd);
  /// Whether a non-blocking connect on `fd` finished: false while it runs,
  /// true once established or failed (`ec_`).
  bool connected(int fd);

  /// Queues this step until `socket` is ready for `a`, keeping `owner`
  /// alive; connection::on_step(*this) runs then (or when the socket is
  /// closed: `ec_` = operation_aborted). Only valid right after the
  /// matching call above found the socket not ready.
  void wait(action a, tcp_socket& socket, std::shared_ptr<connection> owner);

  /// The bytes received and not yet sent: [begin, end) of `buf`.
  pooled_buffer buf;
  uint32_t begin = 0;
  uint32_t end = 0;
  action what = action::receive;
  uint8_t dir = 0;       ///< 0: client -> backend, 1: backend -> client
  bool eof = false;      ///< the stream ended (after the bytes in `buf`)
  bool drained = false;  ///< the last receive ended in EAGAIN
  bool finished = false; ///< this direction is done (EOF forwarded)

private:
  static status do_perform(reactor_op* base);
  static void do_complete(void* owner, asio::detail::operation* base,
                          const asio::error_code& ec, std::size_t bytes);

  std::shared_ptr<connection> owner_;
  bool starting_ = false;
};

} // namespace balance::net
