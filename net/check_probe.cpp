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
                         check_sockets& sockets, uint32_t group,
                         uint32_t channel, finished on_finished)
  : ctx_(ctx), settings_(settings), sockets_(sockets), group_(group),
    channel_(channel),
    on_finished_(std::move(on_finished)),
    watch_(&check_probe::on_events, this) {}

void check_probe::do_check(const endpoint& target) {
  sent_ = 0;
  received_.clear();
  sockaddr_storage remote{};
  auto remote_len = to_sockaddr(target, &remote);
  fd_ = sockets_.take(remote.ss_family);
  if (fd_ < 0) {
    finish(check_outcome::skipped);
    return;
  }
  family_ = remote.ss_family;
  phase_ = phase::connecting;
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote), remote_len) < 0
      && errno != EINPROGRESS) {
    int err = errno;
    if (err == EISCONN || err == EALREADY) {
      // The idle socket was not disconnected after all: not kept.
      ::close(fd_);
      fd_ = -1;
      finish(check_outcome::skipped);
    } else if (is_local_connect_error(err))
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
  // A socket in the epoll set is closed (SO_LINGER {1,0}: a reset), as
  // taking it out would cost what a new one costs; one that never joined
  // it goes back to the idle ones.
  watch_.close();
  if (fd_ >= 0)
    sockets_.give_back(fd_, family_);
  fd_ = -1;
  phase_ = phase::idle;
  on_finished_(*this, outcome, why);
}

} // namespace balance::net
