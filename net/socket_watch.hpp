// A relay socket watched in its io_context's epoll set for its whole life:
// registered once, edge-triggered for input, output, the peer's shutdown
// (EPOLLRDHUP) and errors. Each wake-up runs the owner's handler straight
// from Asio's event loop, with what the events said kept as flags.
//
// Why not an Asio socket: Asio registers sockets without EPOLLRDHUP and
// keeps the event mask from its operations, so a relay cannot tell "a short
// read drained the socket" from "a FIN came with those bytes" (no new edge
// follows then) and must pay one more recv that meets EAGAIN per message:
// 3 syscalls per relayed message where HAProxy and nginx need 2. It also
// costs a descriptor state with a mutex and three queues per socket.
//
// How: this object is an Asio scheduler operation. Asio's reactor queues
// whatever epoll hands back as an operation (its own per-socket state is
// one too), stores the event mask in it, and the scheduler then completes
// it, which calls on_events here. That relies on Asio 1.22's internals
// (Debian bookworm's): the check below stops a build against another one.
#pragma once

#include <cstdint>
#include <system_error>

#include <asio/version.hpp>
#if ASIO_VERSION < 102200 || ASIO_VERSION >= 102300
#error "net/socket_watch.hpp relies on Asio 1.22 reactor internals"
#endif
#include <asio/detail/config.hpp>
#if !defined(ASIO_HAS_EPOLL) || defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#error "net/socket_watch.hpp needs Asio's epoll reactor"
#endif

#include <asio/detail/scheduler_operation.hpp>
#include <asio/io_context.hpp>

namespace balance::net {

class socket_watch : public asio::detail::scheduler_operation {
public:
  /// Runs on the io thread after the flags took in new events.
  using handler = void (*)(void* owner, socket_watch& watch);

  socket_watch(handler on_events, void* owner);
  ~socket_watch();

  socket_watch(const socket_watch&) = delete;
  socket_watch& operator=(const socket_watch&) = delete;

  /// Watches `fd` (non-blocking, now owned by this watch) in the epoll set
  /// of `ctx`, whose thread must be the caller's and its only one. On
  /// failure `fd` is closed.
  void watch(asio::io_context& ctx, int fd, std::error_code& ec);
  /// Watches a listening socket for new clients, edge-triggered; from any
  /// thread. Each io thread's epoll set may hold the same socket (a dup of
  /// it, where SO_REUSEPORT siblings are refused): EPOLLEXCLUSIVE then has
  /// a new client wake one thread waiting in epoll_wait, not all of them.
  /// As the socket may live on in other dups, close() takes it out of this
  /// epoll set itself.
  void watch_listener(asio::io_context& ctx, int fd, std::error_code& ec);
  /// Closes the socket, which also takes a relay socket out of the epoll
  /// set: its descriptor is never duplicated nor inherited (SOCK_CLOEXEC,
  /// no fork once serving), so this is its last reference.
  void close();

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }

  /// Hints, each checked by the syscall it leads to: input may be waiting
  /// (set by an edge, cleared by the reader once drained) ...
  bool readable = false;
  /// ... output has room (cleared by the writer on EAGAIN) ...
  bool writable = true;
  /// ... the peer shut down or the socket failed ...
  bool peer_done = false;
  /// ... urgent data came (recv stops short at its mark) ...
  bool urgent = false;
  /// ... the socket has an error (a reset).
  bool failed = false;

  /// Whether a short read means the socket is drained: not when a FIN or
  /// an error came with the bytes, nor at an urgent mark, as then no new
  /// edge follows for what is left.
  bool short_read_drains() const { return !peer_done && !urgent; }

private:
  static void on_events(void* scheduler, asio::detail::scheduler_operation* op,
                        const asio::error_code&, std::size_t events);

  handler handler_;
  void* owner_;
  int fd_ = -1;
  int epoll_fd_ = -1; ///< a listener's epoll set, left explicitly at close
};

} // namespace balance::net
