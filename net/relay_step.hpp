// One step of a connection's relay, queued in Asio's reactor until its
// socket is ready: check a pending connect, receive into a pooled buffer
// taken only once bytes are there, or send what is buffered.
//
// Why not socket::async_wait + recv: async_wait allocates an operation and
// makes an epoll_ctl(MOD) on every call. A relay_step lives inside its
// connection and relies on the edge-triggered registration: a receive reads
// until EAGAIN, after which the next one waits for the edge without trying.
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

  /// Queues `a` on `socket`; connection::on_step(*this) runs once it is
  /// done (or aborted), and `owner` is kept alive until then.
  void start(action a, tcp_socket& socket, std::shared_ptr<connection> owner);

  /// The bytes received and not yet sent: [begin, end) of `buf`.
  pooled_buffer buf;
  uint32_t begin = 0;
  uint32_t end = 0;
  action what = action::receive;
  uint8_t dir = 0;      ///< 0: client -> backend, 1: backend -> client
  bool eof = false;     ///< the stream ended (after the bytes in `buf`)
  bool finished = false; ///< this direction is done (EOF forwarded)

private:
  static status do_perform(reactor_op* base);
  static void do_complete(void* owner, asio::detail::operation* base,
                          const asio::error_code& ec, std::size_t bytes);

  std::shared_ptr<connection> owner_;
  int fd_ = -1;
};

} // namespace balance::net
