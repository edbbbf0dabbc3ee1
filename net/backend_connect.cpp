// The connecting phase of a connection: a raw non-blocking connect() to
// the channel (outgoing bind with -B), a probe that says at once whether a
// nearby backend answered, the connect timeout (-t), a client that
// leaves meanwhile, and --send-proxy's header once connected.
#include "net/connection.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "log/log.hpp"
#include "net/bind_local.hpp"
#include "net/connect_error.hpp"

namespace balance::net {

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

std::error_code last_error() {
  return {errno, std::system_category()};
}

} // namespace

void connection::do_connect(const endpoint& target, slot_lease lease,
                            connect_handler done) {
  lease_ = std::move(lease);
  if (phase_ == phase::closed) {
    lease_.release();
    if (done)
      done(connect_result::aborted);
    return;
  }
  attempt_ = std::make_unique<connect_attempt>();
  attempt_->done = std::move(done);
  sockaddr_storage remote{};
  auto remote_len = to_sockaddr(target, &remote);
  int fd = ::socket(remote.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    // Out of descriptors or memory here: no fault of the channel's, so
    // -a must not disable it. The session tries on (and gives up if every
    // channel fails so).
    auto ec = last_error();
    log::debug("cannot open a socket for client " + peer_.to_string() + ": "
               + ec.message());
    on_connect(ec, false);
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  std::error_code ec;
  const char* step = "epoll_ctl()";
  backend_.watch(ctx_, fd, ec);
  if (!ec && settings_->out_bind) {
    step = "bind()";
    if (!bind_local_address(fd, *settings_->out_bind))
      ec = last_error();
  }
  if (!ec) {
    step = "connect()";
    if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), remote_len) < 0
        && errno != EINPROGRESS)
      ec = last_error();
  }
  if (ec) {
    // Out of ports, memory or descriptors, or a -B address this channel's
    // family cannot use: this host failed, not the channel, so -a must not
    // disable it. The session fails over all the same.
    bool local = backend_.fd() < 0 || is_local_connect_error(ec.value());
    if (local)
      report_local_failure(target, step, ec);
    else
      log::debug("connect to " + target.to_string()
                 + " failed: " + ec.message());
    on_connect(ec, !local);
    return;
  }
  // A nearby backend has usually answered by now (on loopback the handshake
  // runs inside connect()): ask once before waiting for the edge.
  if (connect_finished(fd, ec)) {
    on_connect(ec);
    return;
  }
  backend_.writable = false; // the end of the handshake raises the edge
  attempt_->deadline = std::chrono::steady_clock::now()
                       + settings_->connect_timeout;
  timer().expires_at(attempt_->deadline);
  do_connect_timer();
}

void connection::report_local_failure(const endpoint& target, const char* step,
                                      std::error_code ec) {
  auto text = "connect to " + target.to_string() + " for client "
              + peer_.to_string() + ": " + step + " failed here ("
              + ec.message() + "), not the channel's fault: failing over "
              + "without disabling it";
  // Running out of ports fails every connect: once per 10 s per io thread
  // as a notice, every time under -d.
  thread_local std::chrono::steady_clock::time_point last_notice{};
  auto now = std::chrono::steady_clock::now();
  if (last_notice == decltype(last_notice){}
      || now - last_notice >= std::chrono::seconds(10)) {
    last_notice = now;
    log::notice(text);
  } else {
    log::debug(text);
  }
}

void connection::do_connect_timer() {
  timer().async_wait([self = shared_from_this()](std::error_code ec) {
    self->on_connect_timer(ec);
  });
}

void connection::on_connect_timer(std::error_code ec) {
  if (ec || !attempt_ || phase_ != phase::connecting
      || std::chrono::steady_clock::now() < attempt_->deadline)
    return;
  log::debug("connect timeout for client " + peer_.to_string());
  on_connect(std::make_error_code(std::errc::timed_out));
}

void connection::on_connecting_events(socket_watch& side) {
  if (!attempt_)
    return; // between two attempts (the session is choosing)
  if (&side == &client_) {
    if (side.peer_done)
      on_client_while_connecting();
    return;
  }
  if (!side.writable)
    return;
  std::error_code ec;
  if (connect_finished(side.fd(), ec))
    on_connect(ec);
  else
    side.writable = false;
}

void connection::on_client_while_connecting() {
  // An error (a reset) means the client is gone, so its channel slot should
  // not wait for the connect. A FIN does not: it may be a half-close of a
  // client that sent its request, or nothing (the server speaks first),
  // and waits for the answer; it is forwarded once connected. (A client
  // that closed cannot be told from that one; like HAProxy without
  // abortonclose, it keeps its slot until the connect ends.)
  char byte;
  auto n = ::recv(client_.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && !would_block(errno)) {
    log::debug("client " + peer_.to_string() + " left while connecting");
    close();
  }
}

void connection::on_connect(std::error_code ec, bool channel_at_fault) {
  auto attempt = std::move(attempt_);
  if (timer_)
    timer_->cancel();
  auto& done = attempt->done;
  if (phase_ == phase::closed) {
    // The client went away (kill): the channel did nothing wrong.
    lease_.release();
    if (done)
      done(connect_result::aborted);
    return;
  }
  if (ec) {
    backend_.close();
    if (channel_at_fault)
      lease_.fail(check_error_of(ec.value()));
    else
      lease_.release();
    if (done)
      done(connect_result::failed);
    return;
  }
  // The header goes out before the relay starts, so before any client
  // byte: nothing reaches the backend socket until start_relay(), and
  // splice() only ever appends behind what send() queued.
  if (settings_->send_proxy != proxy_version::none && !send_proxy_header()) {
    backend_.close();
    lease_.fail(check_error::failed);
    if (done)
      done(connect_result::failed);
    return;
  }
  lease_.connected();
  if (done)
    done(connect_result::connected);
  start_relay();
}

bool connection::send_proxy_header() {
  // The client connected to this address: the destination the header
  // names, unless the client's own PROXY header named both ends.
  endpoint source = peer_;
  endpoint destination;
  if (inbound_ && inbound_->addresses) {
    destination = inbound_->addresses->destination;
  } else {
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(client_.fd(), reinterpret_cast<sockaddr*>(&local), &len)
        < 0) {
      log::debug("client " + peer_.to_string()
                 + ": no local address for the PROXY header");
      return false;
    }
    destination = from_sockaddr(&local);
  }
  auto header = encode_proxy_header(settings_->send_proxy, source, destination);
  // One send, as the spec asks; a fresh socket's empty send buffer takes
  // the (at most 104) bytes whole, so anything else means the backend is
  // gone (a reset right after accepting): a failed connect.
  auto n = ::send(backend_.fd(), header.data.data(), header.size,
                  MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n != static_cast<ssize_t>(header.size)) {
    log::debug("PROXY header to the channel for client " + peer_.to_string()
               + " not sent"
               + (n < 0 ? ": " + last_error().message() : std::string()));
    return false;
  }
  return true;
}

} // namespace balance::net
