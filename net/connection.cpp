#include "net/connection.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <asio/post.hpp>

#include "core/packet_dump.hpp"
#include "log/log.hpp"
#include "net/connect_error.hpp"

namespace balance::net {

namespace {

// How many receive/send rounds one direction may run before it yields the
// thread to other connections.
constexpr int rounds_per_turn = 16;

// After one side failed: how long, and how often, to wait for the other
// peer to acknowledge what was relayed to it before resetting it.
constexpr auto abort_drain_limit = std::chrono::seconds(3);
constexpr auto abort_drain_poll = std::chrono::milliseconds(10);

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

std::error_code last_error() {
  return {errno, std::system_category()};
}

} // namespace

// -- registry ----------------------------------------------------------------

void connection_registry::add(connection* c) {
  std::lock_guard<std::mutex> lock{mtx_};
  c->next_ = head_;
  if (head_)
    head_->prev_ = c;
  head_ = c;
  ++count_;
}

void connection_registry::remove(connection* c) {
  std::lock_guard<std::mutex> lock{mtx_};
  if (c->prev_)
    c->prev_->next_ = c->next_;
  else
    head_ = c->next_;
  if (c->next_)
    c->next_->prev_ = c->prev_;
  --count_;
}

std::size_t connection_registry::close_all() {
  std::vector<connection_ptr> live;
  {
    std::lock_guard<std::mutex> lock{mtx_};
    for (auto* c = head_; c != nullptr; c = c->next_)
      if (auto sp = c->weak_from_this().lock())
        live.push_back(std::move(sp));
  }
  for (auto& c : live)
    asio::post(c->executor(), [c] { c->close(); });
  return live.size();
}

std::size_t connection_registry::size() {
  std::lock_guard<std::mutex> lock{mtx_};
  return count_;
}

// -- connection --------------------------------------------------------------

connection::connection(asio::io_context& ctx, const endpoint& peer,
                       const relay_settings& settings)
  : ctx_(ctx), client_(&connection::on_events, this),
    backend_(&connection::on_events, this), peer_(peer), settings_(&settings) {
  settings_->registry->add(this);
  for (auto& st : dirs_)
    st.may_splice = settings.dump == nullptr; // the dump needs the bytes
}

std::shared_ptr<connection> connection::accept(asio::io_context& ctx,
                                               int client_fd,
                                               const endpoint& peer,
                                               const relay_settings& settings) {
  auto c = std::make_shared<connection>(ctx, peer, settings);
  std::error_code ec;
  c->client_.watch(ctx, client_fd, ec);
  if (ec) {
    log::error("cannot watch client " + peer.to_string() + ": " + ec.message());
    c->closed_ = true;
    return c;
  }
  c->self_ = c;
  return c;
}

connection::~connection() {
  settings_->registry->remove(this);
  // lease_ gives the channel slot back as it goes.
}

void connection::do_connect(const endpoint& target, slot_lease lease,
                            connect_handler done) {
  lease_ = std::move(lease);
  if (closed_) {
    lease_.release();
    if (done)
      done(connect_result::aborted);
    return;
  }
  connecting_ = std::make_unique<connect_state>();
  connecting_->done = std::move(done);
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
    // Without this, bind() picks the local port before the destination is
    // known and every outgoing connection burns one of ~28k ephemeral ports.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_storage local{};
    auto local_ep = *settings_->out_bind;
    local_ep.port = 0;
    auto local_len = to_sockaddr(local_ep, &local);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), local_len) < 0)
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
  auto& check = dirs_[1];
  if (check.connected(fd)) {
    on_connect(check.ec);
    return;
  }
  backend_.writable = false; // the end of the handshake raises the edge
  connecting_->deadline = std::chrono::steady_clock::now()
                          + settings_->connect_timeout;
  timer().expires_at(connecting_->deadline);
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
  if (ec || !connecting_ || closed_
      || std::chrono::steady_clock::now() < connecting_->deadline)
    return;
  log::debug("connect timeout for client " + peer_.to_string());
  on_connect(std::make_error_code(std::errc::timed_out));
}

void connection::on_events(void* self, socket_watch& side) {
  auto* c = static_cast<connection*>(self);
  if (c->closed_)
    return;
  if (c->connecting_) {
    if (&side == &c->client_) {
      if (side.peer_done)
        c->on_client_while_connecting();
    } else if (side.writable) {
      if (c->dirs_[1].connected(side.fd()))
        c->on_connect(c->dirs_[1].ec);
      else
        side.writable = false;
    }
    return;
  }
  if (!c->relaying_)
    return;
  int from = &side == &c->client_ ? 0 : 1;
  // Input for the direction reading this socket; room for the one writing
  // to it, if it has bytes waiting.
  if (side.readable)
    c->do_relay(from);
  if (!c->closed_ && side.writable && c->dirs_[1 - from].pending())
    c->do_relay(1 - from);
  // A reset on a socket whose input already ended (or that has nothing
  // to send to) would otherwise wait for the other side to notice. With
  // its bytes still waiting for room, the relay passes it on after them.
  if (!c->closed_ && side.failed && !c->dirs_[from].pending())
    c->abort(side, {});
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
  auto state = std::move(connecting_);
  if (timer_)
    timer_->cancel();
  auto& done = state->done;
  if (closed_) {
    // The client went away (kill): the channel did nothing wrong.
    lease_.release();
    if (done)
      done(connect_result::aborted);
    return;
  }
  if (ec) {
    backend_.close();
    if (channel_at_fault)
      lease_.fail();
    else
      lease_.release();
    if (done)
      done(connect_result::failed);
    return;
  }
  if (done)
    done(connect_result::connected);
  start_relay();
}

timer_type& connection::timer() {
  if (!timer_)
    timer_ = std::make_unique<timer_type>(ctx_.get_executor());
  return *timer_;
}

void connection::start_relay() {
  relaying_ = true;
  if (settings_->idle_timeout.count() > 0) {
    last_activity_ = std::chrono::steady_clock::now();
    do_idle_check();
  } else {
    timer_.reset(); // its cancelled wait holds no reference to it
  }
  // What arrived while connecting; anything else comes as an edge.
  if (client_.readable)
    do_relay(0);
  if (!closed_ && backend_.readable)
    do_relay(1);
}

void connection::do_relay(int dir) {
  auto& st = dirs_[dir];
  auto& src = source(dir);
  auto& dst = sink(dir);
  // Bytes pending now waited (for room, or for this turn): sending them is
  // activity that no receive times, so -T learns of it from a mark instead
  // of a clock read per send. Later rounds send what they just received.
  auto waiting = st.pending_bytes();
  for (int round = 0; round < rounds_per_turn; ++round) {
    if (closed_ || !relaying_ || st.finished)
      return; // (not relaying: aborted, waiting to reset the other peer)
    if (st.pending()) {
      if (!dst.writable)
        return; // on_events runs this again once the sink has room
      bool all_sent = st.send(dst.fd());
      if (waiting > 0) {
        sent_waiting_ = sent_waiting_ || st.pending_bytes() < waiting;
        waiting = 0;
      }
      if (!all_sent) {
        dst.writable = false;
        return;
      }
      if (st.ec) {
        on_sink_failed(dir, st.ec);
        return;
      }
      if (st.eof) {
        on_eof(dir);
        return;
      }
      if (st.aborted) {
        abort(src, st.ec); // its last bytes are out
        return;
      }
      st.begin = st.end = 0;
    }
    if (!src.readable) {
      st.release(); // idle: no buffer, no pipe
      return;
    }
    // splice() stops for good at an urgent mark; recv steps over it.
    if (src.urgent)
      st.may_splice = false;
    bool got = st.receive(src.fd(), src.short_read_drains());
    if (st.drained)
      src.readable = false;
    if (!got)
      return;
    if (st.pending()) // sent at the top of the loop
      account(dir, st.pending_data(), st.pending_bytes());
    else if (st.aborted) {
      abort(src, st.ec);
      return;
    } else if (st.eof) {
      on_eof(dir);
      return;
    }
  }
  // Busy direction: let the other connections on this thread have a turn.
  asio::post(executor(),
             [self = shared_from_this(), dir] { self->do_relay(dir); });
}

void connection::on_sink_failed(int dir, std::error_code ec) {
  // The send found the peer gone, and took the error with it: what the
  // peer sent before failing may still be queued in its socket. That goes
  // to the other peer first; the end of it (0 now) counts as the failure.
  auto& dead = sink(dir);
  dirs_[dir].release();
  dirs_[dir].finished = true;
  failed_ = &dead;
  failure_ = ec;
  if (dirs_[1 - dir].finished) {
    abort(dead, ec);
    return;
  }
  dead.readable = true; // recv says what is left
  do_relay(1 - dir);
}

void connection::on_eof(int dir) {
  if (&source(dir) == failed_) {
    abort(*failed_, failure_); // its last bytes are out
    return;
  }
  auto& st = dirs_[dir];
  st.release();
  st.finished = true;
  if (settings_->dump)
    settings_->dump->write(dir == 0, nullptr, 0);
  if (dirs_[0].finished && dirs_[1].finished) {
    close();
    return;
  }
  // Half-close: the peer learns of the EOF, the other direction goes on.
  ::shutdown(sink(dir).fd(), SHUT_WR);
}

void connection::account(int dir, const char* data, std::size_t n) {
  if (auto& traffic = lease_.traffic())
    (dir == 0 ? traffic->sent : traffic->rcvd)
      .fetch_add(n, std::memory_order_relaxed);
  if (settings_->dump && data)
    settings_->dump->write(dir == 0, data, n);
  if (settings_->idle_timeout.count() > 0)
    last_activity_ = std::chrono::steady_clock::now();
}

void connection::do_idle_check() {
  timer().expires_at(last_activity_ + settings_->idle_timeout);
  timer().async_wait([self = shared_from_this()](std::error_code ec) {
    self->on_idle_check(ec);
  });
}

void connection::on_idle_check(std::error_code ec) {
  if (ec || closed_ || !relaying_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_activity_ >= settings_->idle_timeout) {
    if (!moved_unclocked()) {
      log::debug("idle timeout for client " + peer_.to_string());
      close();
      return;
    }
    // Bytes moved at some time since the last check: counted as now, so a
    // connection is closed no sooner than -T after its last byte (and at
    // most twice that).
    last_activity_ = now;
  }
  do_idle_check();
}

bool connection::moved_unclocked() {
  // A slow reader drains the kernel's queue for seconds between two of the
  // proxy's sends: its acknowledgements are bytes moving too.
  bool moved = sent_waiting_;
  sent_waiting_ = false;
  socket_watch* sides[2] = {&client_, &backend_};
  for (int i = 0; i < 2; ++i) {
    int unacked = 0;
    if (sides[i]->is_open())
      ::ioctl(sides[i]->fd(), SIOCOUTQ, &unacked);
    moved = moved || unacked != unacked_[i];
    unacked_[i] = unacked;
  }
  return moved;
}

void connection::abort(socket_watch& failed, std::error_code why) {
  if (closed_ || !relaying_)
    return;
  log::debug("connection of client " + peer_.to_string() + " aborted by the "
             + (&failed == &client_ ? "client" : "backend")
             + (why ? ": " + why.message() : std::string{}));
  relaying_ = false;
  failed.close();
  dirs_[0].release();
  dirs_[1].release();
  aborting_deadline_ = std::chrono::steady_clock::now() + abort_drain_limit;
  on_abort_drain({});
}

void connection::on_abort_drain(std::error_code ec) {
  if (ec || closed_)
    return;
  // The other peer learns of the failure as a reset, as it would have
  // directly: a FIN would pass a cut answer or upload off as complete.
  // But a reset also throws away what it has not acknowledged yet, bytes
  // the failed side did send: so it waits (bounded) until they are.
  auto& healthy = client_.fd() >= 0 ? client_ : backend_;
  int unacked = 0;
  if (healthy.fd() >= 0 && ::ioctl(healthy.fd(), SIOCOUTQ, &unacked) == 0
      && unacked > 0 && std::chrono::steady_clock::now() < aborting_deadline_) {
    timer().expires_after(abort_drain_poll);
    timer().async_wait([self = shared_from_this()](std::error_code ec) {
      self->on_abort_drain(ec);
    });
    return;
  }
  if (healthy.fd() >= 0) {
    linger reset_on_close{1, 0};
    ::setsockopt(healthy.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close,
                 sizeof(reset_on_close));
  }
  close();
}

void connection::reset_owed_peers() {
  for (int dir = 0; dir < 2; ++dir) {
    // A direction that ended sent its FIN after its last byte: complete.
    auto& to = sink(dir);
    if (dirs_[dir].finished || !to.is_open())
      continue;
    // Owed: bytes received and not sent, sent and not acknowledged (a
    // close would deliver them with a FIN behind), or not yet received.
    int unacked = 0, unread = 0;
    ::ioctl(to.fd(), SIOCOUTQ, &unacked);
    if (source(dir).is_open())
      ::ioctl(source(dir).fd(), SIOCINQ, &unread);
    if (!dirs_[dir].pending() && unacked == 0 && unread == 0)
      continue;
    log::debug("connection of client " + peer_.to_string() + " cut: reset to "
               + (dir == 0 ? "the backend" : "the client"));
    linger reset_on_close{1, 0};
    ::setsockopt(to.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close,
                 sizeof(reset_on_close));
  }
}

void connection::close() {
  if (closed_)
    return;
  closed_ = true;
  if (relaying_)
    reset_owed_peers(); // (an aborted relay has reset its peer already)
  if (timer_)
    timer_->cancel();
  client_.close(); // closing takes a socket out of the epoll set
  backend_.close();
  dirs_[0].release();
  dirs_[1].release();
  if (connecting_)
    on_connect({}); // as aborted: the guard fires, the session stops
  // Events collected before the sockets closed may still be queued behind
  // this handler: let go of this connection only after them.
  if (self_)
    asio::post(ctx_, [self = std::move(self_)] {});
}

} // namespace balance::net
