// The awaiting_header phase of a connection (--accept-proxy): a trusted
// proxy's PROXY header is read before any channel is picked, so that a
// hash group hashes the address it names and the header never reaches a
// destination.
//
// The reader never takes a byte past the header: it peeks (MSG_PEEK) at
// what has arrived, lets the pure decoder (core/proxy_header.hpp) say
// "need more", "done, N bytes" or "malformed", and only then takes exactly
// N bytes. What follows stays in the socket for the relay. A peek of
// bytes that are not a whole header waits for the next input edge (each
// new segment raises one); a deadline bounds the wait.
#include "net/connection.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/socket.h>

#include "log/log.hpp"

namespace balance::net {

namespace {

// The spec asks receivers to wait at least 3 s (a TCP retransmit).
constexpr auto min_header_wait = std::chrono::seconds(3);

} // namespace

void connection::await_proxy_header(header_handler on_header) {
  if (phase_ != phase::connecting || attempt_ || lease_)
    return; // closed already (or not fresh from accept: a caller's bug)
  enter(phase::awaiting_header);
  inbound_ = std::make_unique<inbound_header>();
  inbound_->on_header = std::move(on_header);
  inbound_->deadline = std::chrono::steady_clock::now()
                       + std::max<std::chrono::steady_clock::duration>(
                         settings_->connect_timeout, min_header_wait);
  timer().expires_at(inbound_->deadline);
  timer().async_wait([self = shared_from_this()](std::error_code ec) {
    self->on_header_deadline(ec);
  });
  // The header may have come with the handshake's last segment.
  do_read_header();
}

void connection::on_header_events(socket_watch& side) {
  if (&side == &client_ && (side.readable || side.peer_done || side.failed))
    do_read_header();
}

void connection::do_read_header() {
  uint8_t buf[proxy_header_max];
  auto n = ::recv(client_.fd(), buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      client_.readable = false; // the next segment raises an edge
      return;
    }
    log::debug("client " + peer_.to_string()
               + " failed before its PROXY header");
    close();
    return;
  }
  if (n == 0) {
    log::debug("client " + peer_.to_string()
               + " closed before its PROXY header");
    close();
    return;
  }
  auto got = static_cast<std::size_t>(n);
  auto header = decode_proxy_header(buf, got);
  if (header.status == proxy_parse::malformed) {
    refuse_header(header.error);
    return;
  }
  if (header.status == proxy_parse::need_more) {
    if (client_.peer_done) // a FIN or an error: no more is coming
      refuse_header("the connection ended inside the header");
    return; // (input is still readable only for bytes already peeked)
  }
  // Exactly the header's bytes; the client's own follow in the socket.
  auto taken = ::recv(client_.fd(), buf, header.consumed, MSG_DONTWAIT);
  if (taken != static_cast<ssize_t>(header.consumed)) {
    log::debug("client " + peer_.to_string()
               + ": cannot take its PROXY header");
    close();
    return;
  }
  client_.readable = true; // what follows: the relay's first recv tells
  if (timer_)
    timer_->cancel();
  auto on_header = std::move(inbound_->on_header);
  inbound_->addresses = header.addresses;
  if (header.addresses) {
    if (log::debug_enabled())
      log::debug("client " + peer_.to_string() + ": PROXY header names "
                 + header.addresses->source.to_string());
    peer_ = header.addresses->source;
  }
  enter(phase::connecting);
  if (on_header)
    on_header(shared_from_this());
}

void connection::on_header_deadline(std::error_code ec) {
  if (ec || phase_ != phase::awaiting_header || !inbound_
      || std::chrono::steady_clock::now() < inbound_->deadline)
    return;
  refuse_header("no whole header in time");
}

void connection::refuse_header(const char* why) {
  // The proxy in front is trusted and broken (or an impostor in its
  // range): the operator should hear of it, but one line per second per
  // io thread at most, so that a flood cannot fill the log.
  auto text = "client " + peer_.to_string() + ": bad PROXY protocol header ("
              + why + "): closed";
  thread_local std::chrono::steady_clock::time_point last_notice{};
  auto now = std::chrono::steady_clock::now();
  if (now - last_notice >= std::chrono::seconds(1)
      || last_notice == decltype(last_notice){}) {
    last_notice = now;
    log::notice(text);
  } else {
    log::debug(text);
  }
  close();
}

} // namespace balance::net
