#include "net/socket_watch.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <unistd.h>

#include <asio/detail/epoll_reactor.hpp>
#include <asio/detail/scheduler.hpp>

namespace balance::net {

namespace {

using asio::detail::epoll_reactor;

// Asio keeps the reactor's epoll descriptor private. The names in an
// explicit instantiation are exempt from access checks ([temp.explicit]),
// so instantiating this template with the member hands its address to the
// friend function below.
template <int epoll_reactor::*member>
struct epoll_fd_access {
  friend int epoll_reactor::*epoll_fd_member() { return member; }
};
int epoll_reactor::*epoll_fd_member();
template struct epoll_fd_access<&epoll_reactor::epoll_fd_>;

int epoll_fd_of(asio::io_context& ctx) {
  auto& reactor = asio::use_service<epoll_reactor>(ctx);
  // Makes the reactor the scheduler's task (Asio's socket services do this
  // when they start): without it run() never waits on the epoll set.
  reactor.init_task();
  return reactor.*epoll_fd_member();
}

} // namespace

socket_watch::socket_watch(handler on_events, void* owner)
  : scheduler_operation(&socket_watch::on_events), handler_(on_events),
    owner_(owner) {}

socket_watch::~socket_watch() {
  close();
}

void socket_watch::watch(asio::io_context& ctx, int fd, std::error_code& ec) {
  close();
  fd_ = fd;
  readable = false;
  writable = true;
  peer_done = false;
  urgent = false;
  failed = false;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  // What Asio's reactor takes for its own descriptor state, whose
  // operation base is where this one's is.
  ev.data.ptr = static_cast<asio::detail::scheduler_operation*>(this);
  if (::epoll_ctl(epoll_fd_of(ctx), EPOLL_CTL_ADD, fd, &ev) < 0) {
    ec = {errno, std::system_category()};
    close();
  }
}

void socket_watch::watch_listener(asio::io_context& ctx, int fd,
                                  std::error_code& ec) {
  close();
  fd_ = fd;
  epoll_fd_ = epoll_fd_of(ctx);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET | EPOLLEXCLUSIVE;
  ev.data.ptr = static_cast<asio::detail::scheduler_operation*>(this);
  int rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  if (rc < 0 && errno == EINVAL) {
    // A kernel before 4.5: every thread wakes for a shared socket then.
    ev.events &= ~EPOLLEXCLUSIVE;
    rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  if (rc < 0) {
    ec = {errno, std::system_category()};
    epoll_fd_ = -1;
    close();
  }
}

void socket_watch::close() {
  if (fd_ >= 0) {
    if (epoll_fd_ >= 0) {
      epoll_event ev{}; // (ignored; kernels before 2.6.9 wanted one)
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd_, &ev);
    }
    ::close(fd_);
  }
  fd_ = -1;
  epoll_fd_ = -1;
}

void socket_watch::on_events(void* scheduler,
                             asio::detail::scheduler_operation* op,
                             const asio::error_code&, std::size_t events) {
  if (scheduler == nullptr)
    return; // the io_context is being destroyed: nothing to run
  // The scheduler counts every completed operation as finished work; an
  // event is no work item (Asio's own descriptor states compensate alike).
  static_cast<asio::detail::scheduler*>(scheduler)->compensating_work_started();
  auto* w = static_cast<socket_watch*>(op);
  if (w->fd_ < 0)
    return; // closed after these events were collected
  auto ev = static_cast<uint32_t>(events);
  if (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    w->readable = true;
  if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    w->peer_done = true;
  if (ev & EPOLLPRI)
    w->urgent = true;
  if (ev & EPOLLERR)
    w->failed = true;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
    w->writable = true;
  w->handler_(w->owner_, *w);
}

} // namespace balance::net
