#include "net/check_probe.hpp"

#include <algorithm>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/connect_error.hpp"

namespace balance::net {

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

} // namespace

check_probe::check_probe(asio::io_context& ctx, const check_settings& settings,
                         uint32_t group, uint32_t channel,
                         finished on_finished)
  : ctx_(ctx), settings_(settings), group_(group), channel_(channel),
    on_finished_(std::move(on_finished)),
    watch_(&check_probe::on_events, this) {}

void check_probe::do_check(const endpoint& target) {
  sent_ = 0;
  received_.clear();
  sockaddr_storage remote{};
  auto remote_len = to_sockaddr(target, &remote);
  fd_ = ::socket(remote.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
  if (fd_ < 0) {
    finish(check_outcome::skipped);
    return;
  }
  phase_ = phase::connecting;
  // A reset instead of a FIN: the destination sees no session to log and
  // keeps no TIME_WAIT for it.
  linger abortive{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
  if (settings_.send.empty() && settings_.expect.empty()) {
    // A plain connect check, as HAProxy's layer-4 one: the handshake's
    // last ACK is held back (it would wait for data to ride on), so the
    // reset goes instead. The SYN-ACK proves the listener; the
    // destination's application never sees a connection (no accept, no
    // wake-up, nothing to log) and the check costs a third less CPU here.
    int off = 0;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof(off));
  }
  if (settings_.out_bind) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_storage local{};
    auto local_ep = *settings_.out_bind;
    local_ep.port = 0;
    auto local_len = to_sockaddr(local_ep, &local);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), local_len) < 0) {
      finish(check_outcome::skipped);
      return;
    }
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote), remote_len) < 0
      && errno != EINPROGRESS) {
    int err = errno;
    if (is_local_connect_error(err))
      finish(check_outcome::skipped);
    else
      finish(check_outcome::failed, check_error_of(err));
    return;
  }
  // On loopback the handshake ran inside connect(): no epoll round.
  std::error_code ec;
  if (!connect_finished(fd_, ec)) {
    if (ensure_watched())
      watch_.writable = false; // the end of the handshake raises the edge
    return;
  }
  if (ec)
    finish(check_outcome::failed, check_error_of(ec.value()));
  else
    on_connected();
}

void check_probe::on_deadline() {
  if (running())
    finish(check_outcome::failed, check_error::timeout);
}

bool check_probe::ensure_watched() {
  if (watch_.is_open())
    return true;
  std::error_code ec;
  int fd = fd_;
  fd_ = -1;
  watch_.watch(ctx_, fd, ec); // closes fd on failure
  if (ec) {
    finish(check_outcome::skipped);
    return false;
  }
  return true;
}

void check_probe::on_events(void* self, socket_watch& watch) {
  auto* p = static_cast<check_probe*>(self);
  switch (p->phase_) {
    case phase::idle: return;
    case phase::connecting: {
      if (!watch.writable)
        return;
      std::error_code ec;
      if (!connect_finished(watch.fd(), ec)) {
        watch.writable = false;
        return;
      }
      if (ec)
        p->finish(check_outcome::failed, check_error_of(ec.value()));
      else
        p->on_connected();
      return;
    }
    case phase::sending:
      if (watch.writable)
        p->do_send();
      return;
    case phase::expecting:
      if (watch.readable)
        p->do_expect();
      return;
  }
}

void check_probe::on_connected() {
  if (!settings_.send.empty()) {
    phase_ = phase::sending;
    do_send();
  } else if (!settings_.expect.empty()) {
    phase_ = phase::expecting;
    do_expect();
  } else {
    finish(check_outcome::passed);
  }
}

void check_probe::do_send() {
  auto& bytes = settings_.send;
  while (sent_ < bytes.size()) {
    auto n = ::send(sock(), bytes.data() + sent_, bytes.size() - sent_,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (!would_block(errno)) {
        finish(check_outcome::failed, check_error_of(errno));
      } else if (ensure_watched()) {
        watch_.writable = false;
      }
      return;
    }
    sent_ += static_cast<std::size_t>(n);
  }
  if (settings_.expect.empty()) {
    finish(check_outcome::passed);
    return;
  }
  phase_ = phase::expecting;
  do_expect();
}

void check_probe::do_expect() {
  auto& expect = settings_.expect;
  char buf[512];
  while (received_.size() < expect.size()) {
    // Never more than the expected length: what follows is not ours to
    // read, and a chatty destination cannot make a check buffer much.
    auto want = std::min(sizeof(buf), expect.size() - received_.size());
    auto n = ::recv(sock(), buf, want, MSG_DONTWAIT);
    if (n == 0) {
      finish(check_outcome::failed, check_error::closed);
      return;
    }
    if (n < 0) {
      if (!would_block(errno)) {
        finish(check_outcome::failed, check_error_of(errno));
      } else if (ensure_watched()) {
        watch_.readable = false;
      }
      return;
    }
    auto from = received_.size();
    received_.append(buf, static_cast<std::size_t>(n));
    if (expect.compare(from, received_.size() - from, received_, from,
                       std::string::npos)
        != 0) {
      finish(check_outcome::failed, check_error::expect_mismatch);
      return;
    }
  }
  finish(check_outcome::passed);
}

void check_probe::finish(check_outcome outcome, check_error why) {
  watch_.close();
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  phase_ = phase::idle;
  on_finished_(*this, outcome, why);
}

} // namespace balance::net
