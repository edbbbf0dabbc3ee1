// A relay socket: Asio's stream socket adopting a descriptor this project
// created non-blocking (accept4/socket with SOCK_NONBLOCK), so Asio neither
// sets O_NONBLOCK again (one ioctl per socket) nor treats it as a possible
// dup (one epoll_ctl DEL per close); plus what relay_step needs to queue
// itself in the socket's reactor.
//
// This reaches into Asio's reactor internals, which are stable across the
// 1.22 series Debian bookworm ships; the check below stops a build against
// a version whose internals were not verified.
#pragma once

#include <system_error>

#include <asio/version.hpp>
#if ASIO_VERSION < 102200 || ASIO_VERSION >= 102300
#error "net/tcp_socket.hpp relies on Asio 1.22 reactor internals"
#endif

#include <asio/basic_stream_socket.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/socket_ops.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace balance::net {

using socket_type =
  asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

class tcp_socket : public socket_type {
public:
  using reactor_type = asio::detail::reactor;

  explicit tcp_socket(const asio::io_context::executor_type& ex)
    : socket_type(ex) {
  }

  /// Registers `fd` (non-blocking, owned by nobody else) with the reactor.
  /// On failure the descriptor is closed.
  void adopt(int fd, bool v6, std::error_code& ec);

  /// The reactor this socket is registered with, and its entry there.
  reactor_type& reactor();
  reactor_type::per_descriptor_data& reactor_data() {
    return impl_.get_implementation().reactor_data_;
  }
};

} // namespace balance::net
