// The listening socket: bound before daemonising (so a busy port is an
// error the operator sees), then accepted from on every io thread (each
// waits on its own SO_REUSEPORT sibling of the socket), in batches; a client
// stays on the thread that accepted it. Survives EMFILE/ENFILE by backing
// off.
//
// The socket sits in the thread's epoll set once, edge-triggered (a
// socket_watch): an Asio async_wait costs an epoll_ctl(MOD) to re-arm it
// after every batch.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "core/endpoint.hpp"
#include "net/socket_watch.hpp"
#include "net/timer.hpp"

namespace balance::net {

/// A listening socket bound by someone else (systemd's socket activation):
/// made non-blocking with the options our own listeners carry.
void adopt_listener(int fd);

/// Binds and listens; returns the fd or -1 with `error` set.
/// Without `host` the socket is dual-stack ([::] with IPV6_V6ONLY off).
int open_listener(const std::string& host, uint16_t port, bool force_ipv6,
                  std::string& error);

/// Another listening socket on the same address for one more io thread:
/// with SO_REUSEPORT the kernel spreads new clients over the sockets, so one
/// connection wakes one thread (a shared socket wakes all of them). The
/// first socket was bound without SO_REUSEPORT, so a second instance on the
/// same port still finds it busy. Falls back to a dup of `listen_fd`.
int open_sibling_listener(int listen_fd);

class acceptor {
public:
  /// Receives each accepted client: its io_context (this acceptor's, on
  /// whose thread the handler runs), the non-blocking descriptor to take
  /// over, and the peer.
  using accept_handler =
    std::function<void(asio::io_context&, int fd, const endpoint&)>;

  /// Takes ownership of `listen_fd` (pass a dup per io_context).
  acceptor(asio::io_context& ctx, int listen_fd, accept_handler on_accept);
  ~acceptor();

  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;

  /// Starts accepting (thread-safe: the socket joins the io thread's epoll
  /// set at once, the first batch is posted to that thread).
  void start();
  /// Closes the listening socket on the acceptor's io thread, then calls
  /// `closed` there (thread-safe; returns at once: that thread may be busy
  /// for longer than anyone should wait, and nothing waits on a frame that
  /// could be gone by the time it runs). This object must outlive it.
  /// `take_backlog` (a drain): first accepts the clients whose handshake
  /// the kernel completed already, who would otherwise get a reset.
  void stop(std::function<void()> closed, bool take_backlog = false);

  uint64_t accept_errors() const { return accept_errors_.load(); }

private:
  enum class batch_end { drained, full, failed };

  static void on_events(void* self, socket_watch& watch);
  /// Accepts a batch; as the socket is edge-triggered, a full batch posts
  /// the next one (no new edge comes for clients already waiting).
  void do_accept();
  void do_backoff();
  /// Accepts up to `limit` clients now.
  batch_end accept_batch(int limit);

  asio::io_context& context_;
  int listen_fd_; ///< owned until start() hands it to watch_
  socket_watch watch_;
  timer_type backoff_;
  bool backing_off_ = false;
  accept_handler on_accept_;
  std::atomic<uint64_t> accept_errors_{0};
  std::chrono::steady_clock::time_point last_report_{};
};

} // namespace balance::net
