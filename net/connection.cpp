#include "net/connection.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/post.hpp>

#include "net/log.hpp"
#include "net/packet_dump.hpp"

namespace balance::net {

namespace {

// How long a connect may take before the client is watched as well.
constexpr auto client_watch_delay = std::chrono::milliseconds(300);

// How many receive/send rounds one direction may run before it yields the
// thread to other connections.
constexpr int rounds_per_turn = 16;

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

connection::connection(asio::io_context& ctx, int client_fd, bool v6_socket,
                       const endpoint& peer, const relay_settings& settings)
  : client_(ctx.get_executor()),
    backend_(ctx.get_executor()),
    peer_(peer),
    settings_(&settings) {
  dirs_[1].dir = 1;
  settings_->registry->add(this);
  std::error_code ec;
  client_.adopt(client_fd, v6_socket, ec);
  if (ec) {
    log::error("cannot watch client " + peer.to_string() + ": "
               + ec.message());
    closed_ = true;
  }
}

connection::~connection() {
  settings_->registry->remove(this);
  // guard_ releases the channel slot as it goes.
}

void connection::do_connect(const endpoint& target, release_guard guard,
                            traffic_ptr traffic, connect_handler done) {
  guard_ = std::move(guard);
  traffic_ = std::move(traffic);
  if (closed_) {
    guard_.fire(false);
    if (done)
      done(connect_result::aborted);
    return;
  }
  connecting_ = std::make_unique<connect_state>();
  connecting_->done = std::move(done);
  sockaddr_storage remote{};
  auto remote_len = to_sockaddr(target, &remote);
  int fd =
    ::socket(remote.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    on_connect(last_error());
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  std::error_code ec;
  backend_.adopt(fd, target.v6, ec);
  if (!ec && settings_->out_bind) {
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
  if (!ec && ::connect(fd, reinterpret_cast<sockaddr*>(&remote), remote_len) < 0
      && errno != EINPROGRESS)
    ec = last_error();
  if (ec) {
    log::debug("connect to " + target.to_string() + " failed: " + ec.message());
    on_connect(ec);
    return;
  }
  // A nearby backend has usually answered by now (on loopback the handshake
  // runs inside connect()): ask once before waiting for the reactor.
  auto& check = dirs_[1];
  if (check.connected(fd)) {
    on_connect(check.ec_);
    return;
  }
  check.wait(relay_step::action::connect, backend_, shared_from_this());
  connecting_->deadline = std::chrono::steady_clock::now()
                          + settings_->connect_timeout;
  // A slow connect also watches the client, so one that gives up does not
  // hold its channel slot until the connect timeout.
  timer().expires_at(std::min(connecting_->deadline,
                              std::chrono::steady_clock::now()
                                + client_watch_delay));
  do_connect_timer();
}

void connection::do_connect_timer() {
  timer().async_wait([self = shared_from_this()](std::error_code ec) {
    self->on_connect_timer(ec);
  });
}

void connection::on_connect_timer(std::error_code ec) {
  if (ec || !connecting_)
    return;
  if (std::chrono::steady_clock::now() < connecting_->deadline) {
    do_watch_client();
    timer().expires_at(connecting_->deadline);
    do_connect_timer();
    return;
  }
  log::debug("connect timeout for client " + peer_.to_string());
  std::error_code ig;
  backend_.close(ig); // aborts the connect step: on_connect fails over
}

void connection::do_watch_client() {
  connecting_->client_watched = true;
  client_.async_wait(socket_type::wait_read,
                     [self = shared_from_this()](std::error_code ec) {
                       if (ec || !self->connecting_)
                         return;
                       char byte;
                       auto n = ::recv(self->client_.native_handle(), &byte, 1,
                                       MSG_PEEK | MSG_DONTWAIT);
                       // Data waits for the relay; EOF before any byte or an
                       // error means the client is gone: stop connecting.
                       if (n == 0 || (n < 0 && !would_block(errno))) {
                         log::debug("client " + self->peer_.to_string()
                                    + " left while connecting");
                         self->close();
                       }
                     });
}

void connection::on_connect(std::error_code ec) {
  auto state = std::move(connecting_);
  if (state->client_watched) {
    std::error_code ig;
    client_.cancel(ig); // the watch, if it is still pending
  }
  if (timer_)
    timer_->cancel();
  auto& done = state->done;
  if (closed_) {
    // The client went away (kill): the channel did nothing wrong.
    guard_.fire(false);
    if (done)
      done(connect_result::aborted);
    return;
  }
  if (ec) {
    std::error_code ig;
    backend_.close(ig);
    guard_.fire(true);
    traffic_.reset();
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
    timer_ = std::make_unique<timer_type>(client_.get_executor());
  return *timer_;
}

void connection::start_relay() {
  if (settings_->idle_timeout.count() > 0) {
    last_activity_ = std::chrono::steady_clock::now();
    do_idle_check();
  } else {
    timer_.reset(); // its cancelled wait holds no reference to it
  }
  do_receive(0);
  do_receive(1);
}

void connection::do_receive(int dir) {
  auto& st = dirs_[dir];
  for (int round = 0; round < rounds_per_turn; ++round) {
    if (!st.receive(source(dir).native_handle())) {
      st.wait(relay_step::action::receive, source(dir), shared_from_this());
      return;
    }
    if (st.ec_) {
      close();
      return;
    }
    if (st.end > 0) {
      account(dir, st.buf.data(), st.end);
      if (!st.send(sink(dir).native_handle())) {
        // The peer is slow: the rest goes once it can take more.
        st.wait(relay_step::action::send, sink(dir), shared_from_this());
        return;
      }
      if (st.ec_) {
        close();
        return;
      }
    }
    if (st.eof) {
      on_eof(dir);
      return;
    }
    st.begin = st.end = 0;
    if (st.drained) {
      // The receive above just met EAGAIN: wait for the edge, bufferless.
      st.buf.reset();
      st.wait(relay_step::action::receive, source(dir), shared_from_this());
      return;
    }
  }
  // Busy direction: let the other connections on this thread have a turn.
  asio::post(executor(),
             [self = shared_from_this(), dir] { self->do_receive(dir); });
}

void connection::on_step(relay_step& step) {
  if (step.what == relay_step::action::connect) {
    if (!step.ec_ && !closed_
        && !step.connected(backend_.native_handle())) {
      step.wait(relay_step::action::connect, backend_, shared_from_this());
      return;
    }
    on_connect(step.ec_);
    return;
  }
  if (closed_)
    return;
  if (step.ec_) {
    close();
    return;
  }
  if (step.what == relay_step::action::receive) {
    do_receive(step.dir);
    return;
  }
  if (!step.send(sink(step.dir).native_handle())) {
    step.wait(relay_step::action::send, sink(step.dir), shared_from_this());
    return;
  }
  if (step.ec_) {
    close();
    return;
  }
  if (step.eof) {
    on_eof(step.dir);
    return;
  }
  step.begin = step.end = 0;
  // Time passed while the sink was full: read afresh (no edge-safe wait).
  do_receive(step.dir);
}

void connection::on_eof(int dir) {
  auto& st = dirs_[dir];
  st.buf.reset();
  st.finished = true;
  if (settings_->dump)
    settings_->dump->write(dir == 0, nullptr, 0);
  if (dirs_[0].finished && dirs_[1].finished) {
    close();
    return;
  }
  // Half-close: the peer learns of the EOF, the other direction goes on.
  ::shutdown(sink(dir).native_handle(), SHUT_WR);
}

void connection::account(int dir, const char* data, std::size_t n) {
  if (traffic_)
    (dir == 0 ? traffic_->sent : traffic_->rcvd)
      .fetch_add(n, std::memory_order_relaxed);
  if (settings_->dump)
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
  if (ec || closed_)
    return;
  if (std::chrono::steady_clock::now() - last_activity_
      >= settings_->idle_timeout) {
    log::debug("idle timeout for client " + peer_.to_string());
    close();
    return;
  }
  do_idle_check();
}

void connection::close() {
  if (closed_)
    return;
  closed_ = true;
  std::error_code ig;
  if (timer_)
    timer_->cancel();
  client_.close(ig);
  backend_.close(ig); // also aborts a pending connect
  dirs_[0].buf.reset();
  dirs_[1].buf.reset();
}

} // namespace balance::net
