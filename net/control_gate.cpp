// Over 300 lines: doors, sessions and the gate share one private impl.
#include "net/control_gate.hpp"

#include <array>
#include <atomic>
#include <future>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.hpp"
#include "net/control_preamble.hpp"

namespace balance::net {

namespace {

// Out of descriptors: wait before the next accept instead of spinning on
// a listening socket that stays readable.
constexpr auto accept_backoff = std::chrono::milliseconds(100);
constexpr std::size_t relay_buffer = 8 * 1024;

using local_socket = asio::local::stream_protocol::socket;
using tcp_socket = asio::ip::tcp::socket;
using tls_stream = asio::ssl::stream<tcp_socket>;

bool out_of_resources(const std::error_code& ec) {
  auto v = ec.value();
  return ec.category() == asio::system_category()
         && (v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM);
}

const char* door_name(control_door kind) {
  switch (kind) {
    case control_door::local: return "local";
    case control_door::token: return "tcp";
    case control_door::tls: return "tls";
  }
  return "?";
}

} // namespace

class gate_session_base {
public:
  virtual ~gate_session_base() = default;
  /// Closes the connection (idempotent); frees its slot at the door.
  virtual void shut() = 0;
};

struct control_gate::impl {
  impl(std::string s, control_handoff h, control_gate_limits l)
    : secret(std::move(s)), handoff(std::move(h)), limits(l) {}

  class door;

  std::string secret;
  control_handoff handoff;
  control_gate_limits limits;
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{
    ctx.get_executor()};
  std::thread thread;
  // Retired doors (a re-bound local socket) stay until the gate goes: their
  // sessions still count against them.
  std::list<std::unique_ptr<door>> doors;
  door* current_local = nullptr;
  std::string local_path;
  struct stat local_stat {};
  std::atomic<std::size_t> active_total{0};
  bool stopped = false;
  std::size_t handoffs = 0;

  /// CAF names a connection by its descriptor's number and forgets a
  /// closed one only later (its cleanup waits behind the BASP queue); a
  /// new connection that got the same number in between had its routes
  /// wiped by that cleanup, and its reply was lost (1 `-c` call in ~5 000
  /// under load). So the end handed to BASP gets a number from a range
  /// that rotates: one comes back only after `span` more hand-offs.
  int fresh_number(int fd) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 256)
      return fd;
    auto limit = static_cast<std::size_t>(
      rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : rl.rlim_cur);
    // Low in the table (a high number makes the kernel grow the process's
    // descriptor table up to it): 1024..2047, or the top quarter of a
    // smaller limit. A data socket may hold a number there; that is no
    // conflict, only an earlier BASP connection's number would be.
    auto span = std::min<std::size_t>(1024, limit / 4);
    auto base = std::min<std::size_t>(limit - span, 1024);
    auto floor = base + handoffs++ % span;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, static_cast<int>(floor));
    if (moved < 0)
      return fd; // that range is full: the number as it is
    ::close(fd);
    return moved;
  }

  std::unique_ptr<door> bind_local(std::string& error);
  /// An upgrade hands a door to a child process, which then holds the
  /// same socket: closing our descriptor would no longer take the socket
  /// out of our epoll set. Asio deletes it explicitly only from a socket
  /// it was given (assign), so give it the socket it made.
  template <class Acceptor>
  static void mark_shared(Acceptor& acc, std::error_code& ec) {
    auto protocol = acc.local_endpoint(ec).protocol();
    if (ec)
      return;
    auto fd = acc.release(ec);
    if (!ec)
      acc.assign(protocol, fd, ec);
  }
  /// Runs `fn` on the gate's thread (or here, before it started) and waits.
  void on_gate_thread(std::function<void()> fn);
};

// -- doors --------------------------------------------------------------------

class control_gate::impl::door {
public:
  door(impl& g, control_door k) : gate(g), kind(k), backoff_(g.ctx) {}
  virtual ~door() = default;

  /// Arms one accept unless one is outstanding or a cap is reached (then
  /// new peers wait in the kernel's backlog, costing us nothing).
  void maybe_accept() {
    if (accepting_ || closed_ || pending >= gate.limits.max_pending
        || active >= gate.limits.max_active)
      return;
    accepting_ = true;
    do_accept();
  }

  /// At a cap: withdraw the accept that is already armed, so that the
  /// next peer waits in the backlog instead of being taken and dropped.
  void pause_if_full() {
    if (accepting_
        && (pending >= gate.limits.max_pending
            || active >= gate.limits.max_active))
      cancel_accept();
  }

  void on_accept_failed(const std::error_code& ec) {
    accepting_ = false;
    if (closed_)
      return;
    if (ec == asio::error::operation_aborted) {
      maybe_accept(); // withdrawn at a cap; armed again if a slot is free
      return;
    }
    if (out_of_resources(ec)) {
      log::debug(std::string("control ") + door_name(kind)
                 + ": accept: " + ec.message() + " (backing off)");
      backoff_.expires_after(accept_backoff);
      backoff_.async_wait([this](std::error_code wait_ec) {
        if (!wait_ec)
          maybe_accept();
      });
      return;
    }
    maybe_accept();
  }

  /// The listening socket's descriptor; -1 once closed.
  virtual int native_handle() = 0;

  /// Stops accepting; with `sessions_too` also closes every connection.
  void close(bool sessions_too) {
    closed_ = true;
    backoff_.cancel();
    close_acceptor();
    if (sessions_too) {
      auto copy = sessions;
      for (auto* s : copy)
        s->shut();
    }
  }

  impl& gate;
  control_door kind;
  std::size_t pending = 0;
  std::size_t active = 0;
  std::unordered_set<gate_session_base*> sessions;

protected:
  virtual void do_accept() = 0;
  virtual void cancel_accept() = 0;
  virtual void close_acceptor() = 0;
  bool accepting_ = false;
  bool closed_ = false;

private:
  asio::steady_timer backoff_;
};

// -- one connection: authenticate, then relay into BASP -----------------------

namespace {

template <class Stream>
auto& lowest(Stream& s) {
  return s.lowest_layer();
}

} // namespace

template <class Stream>
class gate_session : public gate_session_base,
                     public std::enable_shared_from_this<gate_session<Stream>> {
public:
  using door = control_gate::impl::door;

  gate_session(door& d, Stream stream)
    : door_(d), stream_(std::move(stream)), deadline_(d.gate.ctx),
      basp_(d.gate.ctx) {
    door_.sessions.insert(this);
  }
  ~gate_session() override { door_.sessions.erase(this); }

  void start() {
    ++door_.pending;
    door_.pause_if_full();
    phase_ = phase::authenticating;
    deadline_.expires_after(door_.gate.limits.auth_deadline);
    deadline_.async_wait([self = this->shared_from_this()](std::error_code ec) {
      if (!ec && self->phase_ == phase::authenticating)
        self->shut();
    });
    do_handshake();
  }

  void shut() override {
    if (phase_ == phase::closed)
      return;
    if (phase_ == phase::authenticating)
      --door_.pending;
    else if (phase_ == phase::relaying) {
      --door_.active;
      --door_.gate.active_total;
    }
    phase_ = phase::closed;
    std::error_code ignored;
    deadline_.cancel();
    lowest(stream_).close(ignored);
    basp_.close(ignored);
    door_.maybe_accept();
  }

private:
  enum class phase { idle, authenticating, relaying, closed };

  void do_handshake();

  void do_read_preamble() {
    // Exactly the preamble: not one byte past what authentication needs.
    asio::async_read(stream_, asio::buffer(preamble_),
                     [self = this->shared_from_this()](std::error_code ec,
                                                       std::size_t n) {
                       self->on_preamble(ec, n);
                     });
  }

  void on_preamble(std::error_code ec, std::size_t n) {
    if (ec || phase_ != phase::authenticating)
      return shut();
    auto verdict = check_preamble(preamble_.data(), n, door_.gate.secret,
                                  door_.kind != control_door::tls);
    if (verdict != preamble_verdict::accepted) {
      log::debug(
        std::string("control ") + door_name(door_.kind) + ": refused a peer ("
        + (verdict == preamble_verdict::bad_magic ? "not a balance client"
                                                  : "wrong secret")
        + ")");
      return shut();
    }
    if (door_.active >= door_.gate.limits.max_active)
      return shut();
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
      return shut();
    pair[1] = door_.gate.fresh_number(pair[1]);
    std::error_code assign_ec;
    basp_.assign(asio::local::stream_protocol(), pair[0], assign_ec);
    if (assign_ec) {
      ::close(pair[0]);
      ::close(pair[1]);
      return shut();
    }
    if (!door_.gate.handoff(pair[1], door_.kind))
      return shut();
    --door_.pending;
    ++door_.active;
    ++door_.gate.active_total;
    door_.pause_if_full();
    phase_ = phase::relaying;
    deadline_.cancel();
    asio::async_write(stream_, asio::buffer(&preamble_accepted, 1),
                      [self = this->shared_from_this()](std::error_code ec,
                                                        std::size_t) {
                        if (ec)
                          return self->shut();
                        self->do_relay_up();
                        self->do_relay_down();
                      });
  }

  // Both directions end together: the control protocol is request and
  // reply, so a half-closed peer has nothing more to say.
  void do_relay_up() {
    stream_.async_read_some(
      asio::buffer(up_),
      [self = this->shared_from_this()](std::error_code ec, std::size_t n) {
        if (ec)
          return self->shut();
        asio::async_write(self->basp_, asio::buffer(self->up_.data(), n),
                          [self](std::error_code ec, std::size_t) {
                            if (ec)
                              return self->shut();
                            self->do_relay_up();
                          });
      });
  }

  void do_relay_down() {
    basp_.async_read_some(
      asio::buffer(down_),
      [self = this->shared_from_this()](std::error_code ec, std::size_t n) {
        if (ec)
          return self->shut();
        asio::async_write(self->stream_, asio::buffer(self->down_.data(), n),
                          [self](std::error_code ec, std::size_t) {
                            if (ec)
                              return self->shut();
                            self->do_relay_down();
                          });
      });
  }

  door& door_;
  Stream stream_;
  asio::steady_timer deadline_;
  local_socket basp_;
  phase phase_ = phase::idle;
  std::array<uint8_t, preamble_size> preamble_{};
  std::array<char, relay_buffer> up_{};
  std::array<char, relay_buffer> down_{};
};

template <>
void gate_session<tls_stream>::do_handshake() {
  stream_.async_handshake(asio::ssl::stream_base::server,
                          [self = shared_from_this()](std::error_code ec) {
                            if (ec) {
                              log::debug("control tls: handshake refused: "
                                         + ec.message());
                              return self->shut();
                            }
                            self->do_read_preamble();
                          });
}

template <class Stream>
void gate_session<Stream>::do_handshake() {
  do_read_preamble();
}

// -- the three doors ----------------------------------------------------------

namespace {

/// A door over one kind of acceptor: accepts, lets `admit` check the peer
/// and start its session, and re-arms.
template <class Acceptor>
class door_on : public control_gate::impl::door {
public:
  door_on(control_gate::impl& g, control_door k, Acceptor a)
    : door(g, k), acceptor_(std::move(a)) {}

protected:
  using socket_type = typename Acceptor::protocol_type::socket;
  virtual void admit(socket_type peer) = 0;

private:
  void do_accept() override {
    acceptor_.async_accept([this](std::error_code ec, socket_type peer) {
      if (ec)
        return on_accept_failed(ec);
      accepting_ = false;
      admit(std::move(peer));
      maybe_accept();
    });
  }
  void cancel_accept() override {
    std::error_code ignored;
    acceptor_.cancel(ignored);
  }
  void close_acceptor() override {
    std::error_code ignored;
    acceptor_.close(ignored);
  }
  int native_handle() override {
    return acceptor_.is_open() ? acceptor_.native_handle() : -1;
  }
  Acceptor acceptor_;
};

class local_door : public door_on<asio::local::stream_protocol::acceptor> {
public:
  local_door(control_gate::impl& g, asio::local::stream_protocol::acceptor a)
    : door_on(g, control_door::local, std::move(a)) {}

private:
  void admit(local_socket peer) override {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(peer.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len)
          != 0
        || (cred.uid != ::geteuid() && cred.uid != 0)) {
      log::debug("control local: refused uid " + std::to_string(cred.uid));
      return;
    }
    std::make_shared<gate_session<local_socket>>(*this, std::move(peer))
      ->start();
  }
};

class tcp_door : public door_on<asio::ip::tcp::acceptor> {
public:
  tcp_door(control_gate::impl& g, asio::ip::tcp::acceptor a,
           std::shared_ptr<asio::ssl::context> tls)
    : door_on(g, tls ? control_door::tls : control_door::token, std::move(a)),
      tls_(std::move(tls)) {}

private:
  void admit(tcp_socket peer) override {
    std::error_code ignored;
    peer.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (tls_)
      std::make_shared<gate_session<tls_stream>>(
        *this, tls_stream(std::move(peer), *tls_))
        ->start();
    else
      std::make_shared<gate_session<tcp_socket>>(*this, std::move(peer))
        ->start();
  }
  std::shared_ptr<asio::ssl::context> tls_;
};

} // namespace

std::unique_ptr<control_gate::impl::door>
control_gate::impl::bind_local(std::string& error) {
  asio::local::stream_protocol::acceptor acc(ctx);
  std::error_code ec;
  acc.open(asio::local::stream_protocol(), ec);
  // A socket left by a dead instance (the caller checked no live one owns
  // this name) would make bind fail.
  ::unlink(local_path.c_str());
  if (!ec)
    acc.bind(asio::local::stream_protocol::endpoint(local_path), ec);
  // The directory is private already; the mode keeps other users out even
  // in a shared one (/run/balance), and SO_PEERCRED checks again.
  if (!ec && ::chmod(local_path.c_str(), 0600) != 0)
    ec = std::error_code(errno, std::system_category());
  if (!ec)
    acc.listen(128, ec);
  if (!ec)
    mark_shared(acc, ec);
  if (ec || ::lstat(local_path.c_str(), &local_stat) != 0) {
    error = "cannot listen on " + local_path + ": " + ec.message();
    return nullptr;
  }
  return std::make_unique<local_door>(*this, std::move(acc));
}

void control_gate::impl::on_gate_thread(std::function<void()> fn) {
  if (!thread.joinable() || stopped) {
    fn(); // not started (or over): nothing else runs on the context
    return;
  }
  std::promise<void> done;
  auto finished = done.get_future();
  asio::post(ctx, [&fn, &done] {
    fn();
    done.set_value();
  });
  finished.wait();
}

// -- the gate -----------------------------------------------------------------

control_gate::control_gate(std::string secret, control_handoff handoff,
                           control_gate_limits limits)
  : impl_(
    std::make_unique<impl>(std::move(secret), std::move(handoff), limits)) {}

control_gate::~control_gate() {
  stop();
}

bool control_gate::listen_local(const std::string& path, std::string& error) {
  impl_->local_path = path;
  auto d = impl_->bind_local(error);
  if (!d)
    return false;
  impl_->current_local = d.get();
  impl_->doors.push_back(std::move(d));
  return true;
}

std::optional<uint16_t>
control_gate::listen_tcp(const endpoint& where,
                         std::shared_ptr<asio::ssl::context> tls,
                         std::string& error) {
  asio::ip::tcp::acceptor acc(impl_->ctx);
  asio::ip::address addr;
  if (where.v6) {
    asio::ip::address_v6::bytes_type b;
    std::copy(where.bytes.begin(), where.bytes.end(), b.begin());
    addr = asio::ip::address_v6(b);
  } else {
    asio::ip::address_v4::bytes_type b;
    std::copy(where.bytes.begin(), where.bytes.begin() + 4, b.begin());
    addr = asio::ip::address_v4(b);
  }
  asio::ip::tcp::endpoint ep(addr, where.port);
  std::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec)
    acc.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acc.bind(ep, ec);
  if (!ec)
    acc.listen(128, ec);
  if (!ec)
    impl::mark_shared(acc, ec);
  if (ec) {
    error = ec.message();
    return std::nullopt;
  }
  auto port = acc.local_endpoint(ec).port();
  impl_->doors.push_back(
    std::make_unique<tcp_door>(*impl_, std::move(acc), std::move(tls)));
  return port;
}

namespace {

/// A listening stream socket of `family`, or why not.
std::string check_listening(int fd, int family) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  sockaddr_storage ss{};
  socklen_t ss_len = sizeof(ss);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0
      || !listening
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &ss_len) != 0
      || (ss.ss_family != family
          && !(family == AF_INET && ss.ss_family == AF_INET6)))
    return "descriptor " + std::to_string(fd)
           + " is not a listening control socket";
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return {};
}

} // namespace

bool control_gate::adopt_local(int fd, const std::string& path,
                               std::string& error) {
  if (error = check_listening(fd, AF_UNIX); !error.empty())
    return false;
  asio::local::stream_protocol::acceptor acc(impl_->ctx);
  std::error_code ec;
  acc.assign(asio::local::stream_protocol(), fd, ec);
  if (ec || ::lstat(path.c_str(), &impl_->local_stat) != 0) {
    error = "cannot take over " + path + ": "
            + (ec ? ec.message() : std::string(std::strerror(errno)));
    return false;
  }
  impl_->local_path = path;
  auto d = std::make_unique<local_door>(*impl_, std::move(acc));
  impl_->current_local = d.get();
  impl_->doors.push_back(std::move(d));
  return true;
}

bool control_gate::adopt_tcp(int fd, std::shared_ptr<asio::ssl::context> tls,
                             std::string& error) {
  if (error = check_listening(fd, AF_INET); !error.empty())
    return false;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  asio::ip::tcp::acceptor acc(impl_->ctx);
  std::error_code ec;
  acc.assign(ss.ss_family == AF_INET6 ? asio::ip::tcp::v6()
                                      : asio::ip::tcp::v4(),
             fd, ec);
  if (ec) {
    error = "cannot take over the control port: " + ec.message();
    return false;
  }
  impl_->doors.push_back(
    std::make_unique<tcp_door>(*impl_, std::move(acc), std::move(tls)));
  return true;
}

std::vector<std::pair<control_door, int>> control_gate::duplicate_doors() {
  std::vector<std::pair<control_door, int>> out;
  auto& g = *impl_;
  g.on_gate_thread([&] {
    // The local door in use first (a retired one only serves its sessions).
    if (g.current_local)
      if (int fd = g.current_local->native_handle(); fd >= 0)
        out.emplace_back(control_door::local,
                         ::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    for (auto& d : g.doors)
      if (d->kind != control_door::local)
        if (int fd = d->native_handle(); fd >= 0)
          out.emplace_back(d->kind, ::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  });
  for (auto it = out.begin(); it != out.end();)
    it = it->second < 0 ? out.erase(it) : it + 1;
  return out;
}

void control_gate::hand_over() {
  auto& g = *impl_;
  g.on_gate_thread([&g] {
    for (auto& d : g.doors)
      d->close(false);
    g.local_path.clear(); // the new owner's now: no unlink, no restore
    g.current_local = nullptr;
  });
}

void control_gate::start() {
  for (auto& d : impl_->doors)
    d->maybe_accept();
  impl_->thread = std::thread([this] { impl_->ctx.run(); });
}

void control_gate::stop() {
  if (!impl_ || impl_->stopped)
    return;
  impl_->stopped = true;
  // Close everything on the gate's own thread, then let the context run
  // out of work: every handler completes before a door goes away.
  asio::post(impl_->ctx, [this] {
    for (auto& d : impl_->doors)
      d->close(true);
  });
  impl_->guard.reset();
  if (impl_->thread.joinable())
    impl_->thread.join();
  else
    impl_->ctx.run();
  if (!impl_->local_path.empty() && impl_->current_local)
    ::unlink(impl_->local_path.c_str());
}

bool control_gate::restore_local() {
  auto& g = *impl_;
  if (g.local_path.empty() || g.stopped)
    return true;
  struct stat now {};
  if (::lstat(g.local_path.c_str(), &now) == 0
      && now.st_ino == g.local_stat.st_ino && now.st_dev == g.local_stat.st_dev)
    return true;
  std::promise<bool> done;
  auto result = done.get_future();
  asio::post(g.ctx, [&g, &done] {
    std::string error;
    auto d = g.bind_local(error);
    if (!d) {
      log::error("control: " + error);
      done.set_value(false);
      return;
    }
    if (g.current_local)
      g.current_local->close(false); // its live sessions finish as they are
    g.current_local = d.get();
    g.doors.push_back(std::move(d));
    g.current_local->maybe_accept();
    log::notice("control socket " + g.local_path + " was removed: re-created");
    done.set_value(true);
  });
  return result.get();
}

std::size_t control_gate::active() const {
  return impl_->active_total.load();
}

} // namespace balance::net
