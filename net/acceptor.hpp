// The listening socket: bound before daemonising (so a busy port is an
// error the operator sees), then accepted from on every io thread (each
// waits on its own dup of the socket), in batches; a client stays on the
// thread that accepted it. Survives EMFILE/ENFILE by backing off.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <asio/basic_socket_acceptor.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "net/connection.hpp"
#include "net/endpoint.hpp"

namespace balance::net {

/// Binds and listens; returns the fd or -1 with `error` set.
/// Without `host` the socket is dual-stack ([::] with IPV6_V6ONLY off).
int open_listener(const std::string& host, uint16_t port, bool force_ipv6,
                  std::string& error);

class acceptor {
public:
  /// Receives each accepted client socket (on this acceptor's io thread).
  using accept_handler = std::function<void(socket_type, const endpoint&)>;

  /// Takes ownership of `listen_fd` (pass a dup per io_context).
  acceptor(asio::io_context& ctx, int listen_fd, accept_handler on_accept);

  /// Starts accepting (thread-safe: posts to the acceptor's context).
  void start();
  /// Closes the listening socket (thread-safe); returns once closed.
  void stop();

  uint64_t accept_errors() const { return accept_errors_.load(); }

private:
  void do_wait();
  void on_readable(std::error_code ec);
  void do_backoff();

  asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>
    socket_;
  timer_type backoff_;
  accept_handler on_accept_;
  std::atomic<uint64_t> accept_errors_{0};
  std::chrono::steady_clock::time_point last_report_{};
};

} // namespace balance::net
