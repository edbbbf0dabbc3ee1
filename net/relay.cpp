// The relaying and resetting phases of a connection: each direction's
// receive/send rounds, half-close, -p and -T accounting, and what a failed
// or cut socket does to the other peer (see docs/architecture.md, "The
// relay").
#include "net/connection.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <asio/post.hpp>

#include "core/packet_dump.hpp"
#include "log/log.hpp"

namespace balance::net {

namespace {

// How many receive/send rounds one direction may run before it yields the
// thread to other connections.
constexpr int rounds_per_turn = 16;

// After one side failed: how long, and how often, to wait for the other
// peer to acknowledge what was relayed to it before resetting it.
constexpr auto reset_drain_limit = std::chrono::seconds(3);
constexpr auto reset_drain_poll = std::chrono::milliseconds(10);

void reset_on_close(int fd) {
  linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
}

} // namespace

// -- relaying -----------------------------------------------------------------

void connection::start_relay() {
  enter(phase::relaying);
  if (settings_->idle_timeout.count() > 0) {
    last_activity_ = std::chrono::steady_clock::now();
    do_idle_check();
  } else {
    timer_.reset(); // its cancelled wait holds no reference to it
  }
  // What arrived while connecting; anything else comes as an edge.
  if (client_.readable)
    do_relay(0);
  if (backend_.readable)
    do_relay(1);
}

void connection::on_relay_events(socket_watch& side) {
  int from = &side == &client_ ? 0 : 1;
  // Input for the direction reading this socket; room for the one writing
  // to it, if it has bytes waiting.
  if (side.readable)
    do_relay(from);
  if (side.writable && dirs_[1 - from].pending())
    do_relay(1 - from);
  // A reset on a socket whose input already ended (or that has nothing
  // to send to) would otherwise wait for the other side to notice. With
  // its bytes still waiting for room, the relay passes it on after them.
  if (side.failed && !dirs_[from].pending())
    abort(side, {});
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
    if (phase_ != phase::relaying || st.finished())
      return;
    if (st.pending()) {
      if (!dst.writable)
        return; // on_relay_events runs this again once the sink has room
      bool all_sent = st.send(dst.fd());
      if (waiting > 0) {
        sent_waiting_ = sent_waiting_ || st.pending_bytes() < waiting;
        waiting = 0;
      }
      if (!all_sent) {
        dst.writable = false;
        return;
      }
      if (st.error()) {
        on_sink_failed(dir, st.error());
        return;
      }
      if (st.eof()) {
        on_eof(dir);
        return;
      }
      if (st.aborted()) {
        abort(src, st.error()); // its last bytes are out
        return;
      }
    }
    if (!src.readable) {
      st.release(); // idle: no buffer, no pipe
      return;
    }
    if (src.urgent)
      st.never_splice();
    bool got = st.receive(src.fd(), src.short_read_drains());
    if (st.drained())
      src.readable = false;
    if (!got)
      return;
    if (st.pending()) // sent at the top of the loop
      account(dir, st.pending_data(), st.pending_bytes());
    else if (st.aborted()) {
      abort(src, st.error());
      return;
    } else if (st.eof()) {
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
  dirs_[dir].finish();
  if (dirs_[1 - dir].finished()) {
    abort(dead, ec);
    return;
  }
  dirs_[1 - dir].source_failed(ec);
  dead.readable = true; // recv says what is left
  do_relay(1 - dir);
}

void connection::on_eof(int dir) {
  auto& st = dirs_[dir];
  if (st.source_dead()) {
    abort(source(dir), st.source_failure()); // its last bytes are out
    return;
  }
  st.finish();
  if (settings_->dump)
    settings_->dump->write(dir == 0, nullptr, 0);
  if (dirs_[0].finished() && dirs_[1].finished()) {
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

// -- -T -----------------------------------------------------------------------

void connection::do_idle_check() {
  timer().expires_at(last_activity_ + settings_->idle_timeout);
  timer().async_wait([self = shared_from_this()](std::error_code ec) {
    self->on_idle_check(ec);
  });
}

void connection::on_idle_check(std::error_code ec) {
  if (ec || phase_ != phase::relaying)
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

// -- a failed socket, a cut relay ---------------------------------------------

void connection::abort(socket_watch& failed, std::error_code why) {
  if (phase_ != phase::relaying)
    return;
  log::debug("connection of client " + peer_.to_string() + " aborted by the "
             + (&failed == &client_ ? "client" : "backend")
             + (why ? ": " + why.message() : std::string{}));
  enter(phase::resetting);
  failed.close();
  dirs_[0].release();
  dirs_[1].release();
  reset_deadline_ = std::chrono::steady_clock::now() + reset_drain_limit;
  on_reset_drain({});
}

void connection::on_reset_drain(std::error_code ec) {
  if (ec || phase_ != phase::resetting)
    return;
  // The other peer learns of the failure as a reset, as it would have
  // directly: a FIN would pass a cut answer or upload off as complete.
  // But a reset also throws away what it has not acknowledged yet, bytes
  // the failed side did send: so it waits (bounded) until they are.
  auto& healthy = client_.fd() >= 0 ? client_ : backend_;
  int unacked = 0;
  if (healthy.fd() >= 0 && ::ioctl(healthy.fd(), SIOCOUTQ, &unacked) == 0
      && unacked > 0 && std::chrono::steady_clock::now() < reset_deadline_) {
    timer().expires_after(reset_drain_poll);
    timer().async_wait([self = shared_from_this()](std::error_code ec) {
      self->on_reset_drain(ec);
    });
    return;
  }
  if (healthy.fd() >= 0)
    reset_on_close(healthy.fd());
  close();
}

void connection::reset_owed_peers() {
  for (int dir = 0; dir < 2; ++dir) {
    // A direction that ended sent its FIN after its last byte: complete.
    auto& to = sink(dir);
    if (dirs_[dir].finished() || !to.is_open())
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
    reset_on_close(to.fd());
  }
}

} // namespace balance::net
