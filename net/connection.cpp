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

// How many read/write rounds one direction may run before it yields the
// thread to other connections.
constexpr int rounds_per_turn = 16;

// How long a connect may take before the client is watched as well.
constexpr auto client_watch_delay = std::chrono::milliseconds(300);

asio::ip::tcp::endpoint to_asio(const endpoint& ep) {
  if (ep.v6) {
    asio::ip::address_v6::bytes_type b;
    std::copy(ep.bytes.begin(), ep.bytes.end(), b.begin());
    return {asio::ip::address_v6(b), ep.port};
  }
  asio::ip::address_v4::bytes_type b;
  std::copy(ep.bytes.begin(), ep.bytes.begin() + 4, b.begin());
  return {asio::ip::address_v4(b), ep.port};
}

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
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

connection::connection(socket_type client, const endpoint& peer,
                       const relay_settings& settings)
  : client_(std::move(client)),
    backend_(client_.get_executor()),
    peer_(peer),
    settings_(&settings) {
  settings_->registry->add(this);
}

connection::~connection() {
  settings_->registry->remove(this);
  // guard_ releases the channel slot as it goes.
}

void connection::do_connect(const endpoint& target, release_guard guard,
                            traffic_ptr traffic, connect_handler done) {
  guard_ = std::move(guard);
  traffic_ = std::move(traffic);
  std::error_code ec;
  if (closed_) {
    on_connect(asio::error::operation_aborted, done);
    return;
  }
  auto remote = to_asio(target);
  backend_.close(ec);
  backend_.open(remote.protocol(), ec);
  if (!ec && settings_->out_bind) {
    auto local = to_asio(*settings_->out_bind);
    local.port(0);
    // Without this, bind() picks the local port before the destination is
    // known and every outgoing connection burns one of ~28k ephemeral ports.
    int one = 1;
    ::setsockopt(backend_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
                 &one, sizeof(one));
    backend_.bind(local, ec);
  }
  if (ec) {
    log::debug("connect to " + target.to_string() + " failed: " + ec.message());
    on_connect(ec, done);
    return;
  }
  connecting_ = true;
  backend_.async_connect(remote, [self = shared_from_this(),
                                  done = std::move(done)](std::error_code ec) {
    self->on_connect(ec, done);
  });
  connect_deadline_ = std::chrono::steady_clock::now()
                     + settings_->connect_timeout;
  // A slow connect also watches the client, so one that gives up does not
  // hold its channel slot until the connect timeout; a fast one (almost
  // all) costs no extra wait.
  timer().expires_at(std::min(connect_deadline_,
                              std::chrono::steady_clock::now()
                                + client_watch_delay));
  timer().async_wait([self = shared_from_this()](std::error_code ec) {
    self->on_connect_timer(ec);
  });
}

void connection::on_connect_timer(std::error_code ec) {
  if (ec || !connecting_)
    return;
  if (std::chrono::steady_clock::now() < connect_deadline_) {
    do_watch_client();
    timer().expires_at(connect_deadline_);
    timer().async_wait([self = shared_from_this()](std::error_code ec) {
      self->on_connect_timer(ec);
    });
    return;
  }
  log::debug("connect timeout for client " + peer_.to_string());
  std::error_code ig;
  backend_.close(ig); // completes async_connect with operation_aborted
}

void connection::do_watch_client() {
  client_watched_ = true;
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

void connection::on_connect(std::error_code ec, const connect_handler& done) {
  if (connecting_ && client_watched_) {
    std::error_code ig;
    client_.cancel(ig); // the watch, if it is still pending
  }
  connecting_ = false;
  client_watched_ = false;
  if (timer_)
    timer_->cancel();
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
  std::error_code ig;
  backend_.set_option(asio::ip::tcp::no_delay(true), ig);
  backend_.set_option(asio::socket_base::keep_alive(true), ig);
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
  // Both descriptors are non-blocking already (accept4 with SOCK_NONBLOCK,
  // Asio's async_connect): the relay's recv/send never block.
  if (settings_->idle_timeout.count() > 0) {
    last_activity_ = std::chrono::steady_clock::now();
    do_idle_check();
  } else {
    timer_.reset(); // its cancelled wait holds no reference to it
  }
  pump(0);
  pump(1);
}

void connection::pump(int dir) {
  auto& st = dirs_[dir];
  if (closed_ || st.done)
    return;
  int src = source(dir).native_handle();
  int dst = sink(dir).native_handle();
  for (int round = 0; round < rounds_per_turn; ++round) {
    if (st.begin < st.end) {
      auto n = ::send(dst, st.buf.data() + st.begin, st.end - st.begin,
                      MSG_NOSIGNAL);
      if (n < 0) {
        if (would_block(errno)) {
          do_wait(dir, false);
          return;
        }
        if (errno == EINTR)
          continue;
        close();
        return;
      }
      st.begin += static_cast<uint32_t>(n);
      if (st.begin < st.end) {
        do_wait(dir, false);
        return;
      }
      bool drained = st.end < pooled_buffer::capacity();
      st.begin = st.end = 0;
      if (drained) {
        // A short read took all there was: wait instead of a recv that
        // would only say EAGAIN. The wait (epoll_ctl MOD) reports data
        // that arrived meanwhile at once.
        st.buf.reset();
        do_wait(dir, true);
        return;
      }
    }
    st.buf.acquire();
    auto n = ::recv(src, st.buf.data(), pooled_buffer::capacity(), 0);
    if (n > 0) {
      st.end = static_cast<uint32_t>(n);
      account(dir, st.buf.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      on_eof(dir);
      return;
    }
    if (would_block(errno)) {
      st.buf.reset();
      do_wait(dir, true);
      return;
    }
    if (errno == EINTR)
      continue;
    close();
    return;
  }
  // Busy direction: let the other connections on this thread have a turn.
  asio::post(executor(), [self = shared_from_this(), dir] { self->pump(dir); });
}

void connection::do_wait(int dir, bool readable) {
  auto& sock = readable ? source(dir) : sink(dir);
  sock.async_wait(readable ? socket_type::wait_read : socket_type::wait_write,
                  [self = shared_from_this(), dir](std::error_code ec) {
                    if (ec) {
                      self->close();
                      return;
                    }
                    self->pump(dir);
                  });
}

void connection::on_eof(int dir) {
  auto& st = dirs_[dir];
  st.buf.reset();
  st.done = 1;
  if (settings_->dump)
    settings_->dump->write(dir == 0, nullptr, 0);
  if (dirs_[0].done && dirs_[1].done) {
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
