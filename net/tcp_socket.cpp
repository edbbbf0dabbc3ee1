#include "net/tcp_socket.hpp"

#include <unistd.h>

namespace balance::net {

void tcp_socket::adopt(int fd, bool v6, std::error_code& ec) {
  assign(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  auto& impl = impl_.get_implementation();
  namespace ops = asio::detail::socket_ops;
  impl.state_ |= ops::internal_non_blocking;
  impl.state_ &= static_cast<ops::state_type>(~ops::possible_dup);
}

tcp_socket::reactor_type& tcp_socket::reactor() {
  // use_service locks and searches the registry: look it up once per thread
  // (a socket is only ever used on its own io thread).
  thread_local asio::io_context* cached_context = nullptr;
  thread_local reactor_type* cached_reactor = nullptr;
  auto& ctx = get_executor().context();
  if (cached_context != &ctx) {
    cached_reactor = &asio::use_service<reactor_type>(ctx);
    cached_context = &ctx;
  }
  return *cached_reactor;
}

} // namespace balance::net
