// The listening socket: bound before daemonising (so a busy port is an
// error the operator sees), then accepting in batches and handing each
// client to the next io_context. Survives EMFILE/ENFILE by backing off.
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

class io_pool;

/// Binds and listens; returns the fd or -1 with `error` set.
/// Without `host` the socket is dual-stack ([::] with IPV6_V6ONLY off).
int open_listener(const std::string& host, uint16_t port, bool force_ipv6,
                  std::string& error);

class acceptor {
public:
  /// Receives each accepted client socket (already on its io_context).
  using accept_handler = std::function<void(socket_type, const endpoint&)>;

  acceptor(io_pool& pool, int listen_fd, accept_handler on_accept);

  /// Starts accepting (thread-safe: posts to the acceptor's context).
  void start();
  /// Closes the listening socket (thread-safe); returns once closed.
  void stop();

  uint64_t accept_errors() const { return accept_errors_.load(); }

private:
  void do_wait();
  void on_readable(std::error_code ec);
  void do_backoff();

  io_pool& pool_;
  asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>
    socket_;
  timer_type backoff_;
  accept_handler on_accept_;
  std::atomic<uint64_t> accept_errors_{0};
  std::chrono::steady_clock::time_point last_report_{};
};

} // namespace balance::net
