#include "net/acceptor.hpp"

#include "net/pipe_pool.hpp"

#include <cerrno>
#include <fcntl.h>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include <asio/post.hpp>

#include "log/log.hpp"

namespace balance::net {

namespace {

// Accepts per wake-up before yielding to the connections on this thread.
constexpr int accept_batch_size = 64;
constexpr auto emfile_backoff = std::chrono::milliseconds(100);

} // namespace

int open_listener(const std::string& host, uint16_t port, bool force_ipv6,
                  std::string& error) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool v6 = true;
  if (host.empty()) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    addrinfo hints{};
    hints.ai_family = force_ipv6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | (force_ipv6 ? AI_V4MAPPED : 0);
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
      error = "getaddrinfo(" + host + "): " + gai_strerror(rc);
      return -1;
    }
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    if (v6)
      reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
    else
      reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  }
  int fd = ::socket(v6 ? AF_INET6 : AF_INET,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && errno == EAFNOSUPPORT && v6 && host.empty() && !force_ipv6) {
    // A kernel without IPv6: the default listener is IPv4 only then.
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    *in4 = sockaddr_in{};
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    v6 = false;
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) {
    error = std::string("socket(): ") + std::strerror(errno);
    return -1;
  }
  int one = 1, zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // Accepted sockets inherit both: two syscalls less per connection.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  if (v6 && host.empty() && !force_ipv6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    error = std::string("bind(): ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (::listen(fd, SOMAXCONN) < 0) {
    error = std::string("listen(): ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

void adopt_listener(int fd) {
  int one = 1;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  // Accepted sockets inherit these from the listener.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

int open_sibling_listener(int listen_fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int one = 1;
  int v6only = 0;
  socklen_t optlen = sizeof(v6only);
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0
      || (ss.ss_family == AF_INET6
          && ::getsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
                          &optlen)
               < 0)
      // Set after bind() and listen(): the kernel forms the group when a
      // sibling listens, and the busy-port check at bind() stayed exclusive.
      || ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))
           < 0)
    return ::dup(listen_fd);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
  if (fd < 0)
    return ::dup(listen_fd);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  if (ss.ss_family == AF_INET6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0
      || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0
      || ::listen(fd, SOMAXCONN) < 0) {
    log::debug(std::string("no SO_REUSEPORT listener (") + std::strerror(errno)
               + "), sharing one socket between io threads");
    ::close(fd);
    return ::dup(listen_fd);
  }
  return fd;
}

acceptor::acceptor(asio::io_context& ctx, int listen_fd,
                   accept_handler on_accept)
  : context_(ctx), listen_fd_(listen_fd), watch_(&acceptor::on_events, this),
    backoff_(ctx.get_executor()), on_accept_(std::move(on_accept)) {}

acceptor::~acceptor() {
  if (listen_fd_ >= 0)
    ::close(listen_fd_); // never started
}

void acceptor::start() {
  std::error_code ec;
  watch_.watch_listener(context_, std::exchange(listen_fd_, -1), ec);
  if (ec) {
    log::error("cannot watch the listening socket: " + ec.message());
    return;
  }
  asio::post(context_, [this] { do_accept(); });
}

void acceptor::stop(std::function<void()> closed, bool take_backlog) {
  asio::post(context_, [this, closed = std::move(closed),
                         take_backlog]() mutable {
    backoff_.cancel();
    // The backlog is at most SOMAXCONN deep; the bound only guards against
    // a flood arriving as fast as it is taken.
    if (take_backlog && watch_.is_open())
      accept_batch(8 * accept_batch_size);
    watch_.close();
    if (listen_fd_ >= 0)
      ::close(std::exchange(listen_fd_, -1));
    // Events collected before the close, a batch posted after a full one
    // and the cancelled backoff may still be queued behind this handler,
    // each with this acceptor: `closed` lets the owner destroy it, so it
    // runs only after them.
    if (closed)
      asio::post(context_, std::move(closed));
  });
}

void acceptor::on_events(void* self, socket_watch&) {
  static_cast<acceptor*>(self)->do_accept();
}

void acceptor::do_accept() {
  if (!watch_.is_open() || backing_off_)
    return;
  switch (accept_batch(accept_batch_size)) {
  case batch_end::drained:
    break;
  case batch_end::full:
    asio::post(context_, [this] { do_accept(); });
    break;
  case batch_end::failed:
    do_backoff();
    break;
  }
}

acceptor::batch_end acceptor::accept_batch(int limit) {
  int lfd = watch_.fd();
  for (int i = 0; i < limit; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&ss), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK)
        return batch_end::drained;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO)
        continue;
      ++accept_errors_;
      if (err == EMFILE || err == ENFILE)
        release_idle_pipes();
      auto now = std::chrono::steady_clock::now();
      if (now - last_report_ > std::chrono::seconds(10)) {
        last_report_ = now;
        log::error(std::string("accept(): ") + std::strerror(err)
                   + " (backing off; accept errors so far: "
                   + std::to_string(accept_errors_.load()) + ")");
      }
      return batch_end::failed;
    }
    // TCP_NODELAY and SO_KEEPALIVE come from the listening socket.
    on_accept_(context_, fd, from_sockaddr(&ss));
  }
  return batch_end::full;
}

void acceptor::do_backoff() {
  // Out of descriptors: the pending client stays in the backlog until some
  // connection ends; waiting instead of spinning keeps the rest served.
  // Edges meanwhile are ignored: the retry looks at the whole backlog.
  backing_off_ = true;
  backoff_.expires_after(emfile_backoff);
  backoff_.async_wait([this](std::error_code ec) {
    if (ec)
      return;
    backing_off_ = false;
    do_accept();
  });
}

} // namespace balance::net
