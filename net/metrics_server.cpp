// Over 300 lines: the server and its connections share one private impl.
#include "net/metrics_server.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <future>
#include <sys/socket.h>
#include <thread>
#include <unordered_set>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "core/http_request.hpp"
#include "log/log.hpp"

namespace balance::net {

namespace {

using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// Out of descriptors: wait before the next accept instead of spinning.
constexpr auto accept_backoff = std::chrono::milliseconds(100);

bool out_of_resources(const std::error_code& ec) {
  auto v = ec.value();
  return ec.category() == asio::system_category()
         && (v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM);
}

std::string response(int minor, const char* status, const char* type,
                     const std::string& body, bool with_body) {
  std::string out = minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += type;
  out += "\r\nContent-Length: " + std::to_string(body.size())
         + "\r\nConnection: close\r\n\r\n";
  if (with_body)
    out += body;
  return out;
}

} // namespace

class http_connection;

struct metrics_server::impl : std::enable_shared_from_this<impl> {
  impl(metrics_source s, metrics_limits l) : source(std::move(s)), limits(l) {}

  /// Arms one accept unless one is armed or the cap is reached: at the
  /// cap, the next scrapers wait in the kernel's backlog instead of being
  /// taken and dropped.
  void maybe_accept();
  void on_accept(std::error_code ec, tcp::socket peer);
  void close_all();
  /// `c` waits for the text; one request to the source serves everyone
  /// waiting when it answers.
  void want_metrics(const std::shared_ptr<http_connection>& c);
  void on_metrics(uint64_t generation, const std::optional<std::string>& text);

  metrics_source source;
  metrics_limits limits;
  // Declared before the context, so that connections still held by its
  // handlers find them when the context goes first.
  std::atomic<std::size_t> open{0};
  std::unordered_set<http_connection*> connections;
  bool fetching = false;
  uint64_t generation = 0;
  clock_type::time_point fetch_started{};
  std::vector<std::weak_ptr<http_connection>> waiting;

  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{
    ctx.get_executor()};
  std::thread thread;
  tcp::acceptor acceptor{ctx};
  asio::steady_timer backoff{ctx};
  bool accepting = false;
  bool closed = false;
  bool stopped = false;
};

// One scraper's connection: read the head (bounded), answer, close.
class http_connection : public std::enable_shared_from_this<http_connection> {
public:
  using impl = metrics_server::impl;

  http_connection(impl& server, tcp::socket socket)
    : server_(server), socket_(std::move(socket)), timer_(server.ctx),
      head_(server.limits.max_request_bytes) {
    server_.connections.insert(this);
  }
  ~http_connection() { server_.connections.erase(this); }

  void start() {
    ++server_.open;
    arm(server_.limits.request_deadline);
    do_read();
  }

  void on_metrics(const std::optional<std::string>& text) {
    if (closed_)
      return;
    if (!text) {
      do_write(response(minor_, "503 Service Unavailable", "text/plain",
                        "metrics unavailable\n", true));
      return;
    }
    do_write(response(minor_, "200 OK", "text/plain; version=0.0.4", *text,
                      route_ == metrics_route::metrics));
  }

  void shut() {
    if (closed_)
      return;
    closed_ = true;
    std::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    --server_.open;
    server_.maybe_accept();
  }

private:
  /// The current step must end within `limit`, or the connection closes.
  void arm(std::chrono::milliseconds limit) {
    timer_.expires_after(limit);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec)
        self->shut();
    });
  }

  void do_read() {
    socket_.async_read_some(
      asio::buffer(head_.data() + have_, head_.size() - have_),
      [self = shared_from_this()](std::error_code ec, std::size_t n) {
        self->on_read(ec, n);
      });
  }

  void on_read(std::error_code ec, std::size_t n) {
    if (ec || closed_)
      return shut(); // gone before a whole request (or timed out)
    have_ += n;
    auto scan = scan_request_head({head_.data(), have_},
                                  server_.limits.max_request_bytes);
    if (scan.status == http_head::need_more)
      return do_read();
    if (scan.status == http_head::too_large) {
      log::debug("metrics: request head over "
                 + std::to_string(server_.limits.max_request_bytes)
                 + " bytes: closed");
      return shut();
    }
    std::string_view head(head_.data(), scan.end);
    if (auto line = parse_request_line(head))
      minor_ = line->minor_version;
    route_ = route_metrics_request(head);
    arm(server_.limits.response_deadline);
    switch (route_) {
      case metrics_route::metrics:
      case metrics_route::metrics_head:
        server_.want_metrics(shared_from_this());
        return;
      case metrics_route::not_found:
        return do_write(
          response(minor_, "404 Not Found", "text/plain", "not found\n", true));
      case metrics_route::bad_request:
        return do_write(response(minor_, "400 Bad Request", "text/plain",
                                 "bad request\n", true));
    }
  }

  void do_write(std::string text) {
    out_ = std::move(text);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](std::error_code ec,
                                                  std::size_t) {
                        self->on_written(ec);
                      });
  }

  void on_written(std::error_code ec) {
    if (ec || closed_)
      return shut();
    // A close with unread bytes (a body, a pipelined request) would reset
    // the connection and could cut the answer off at the client: send the
    // FIN, let the client close, and drop what it still sends (bounded).
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    arm(server_.limits.request_deadline);
    do_discard();
  }

  void do_discard() {
    socket_.async_read_some(asio::buffer(head_),
                            [self = shared_from_this()](std::error_code ec,
                                                        std::size_t) {
                              if (ec || self->closed_)
                                return self->shut();
                              self->do_discard();
                            });
  }

  impl& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::vector<char> head_;
  std::size_t have_ = 0;
  int minor_ = 1;
  metrics_route route_ = metrics_route::bad_request;
  std::string out_;
  bool closed_ = false;
};

// -- the server ---------------------------------------------------------------

void metrics_server::impl::maybe_accept() {
  if (accepting || closed || open >= limits.max_connections)
    return;
  accepting = true;
  acceptor.async_accept(
    [self = shared_from_this()](std::error_code ec, tcp::socket peer) {
      self->on_accept(ec, std::move(peer));
    });
}

void metrics_server::impl::on_accept(std::error_code ec, tcp::socket peer) {
  accepting = false;
  if (closed)
    return;
  if (ec) {
    if (out_of_resources(ec)) {
      log::debug("metrics: accept: " + ec.message() + " (backing off)");
      backoff.expires_after(accept_backoff);
      backoff.async_wait([self = shared_from_this()](std::error_code wait_ec) {
        if (!wait_ec)
          self->maybe_accept();
      });
      return;
    }
    maybe_accept();
    return;
  }
  std::error_code ignored;
  peer.set_option(tcp::no_delay(true), ignored);
  std::make_shared<http_connection>(*this, std::move(peer))->start();
  maybe_accept();
}

void metrics_server::impl::close_all() {
  closed = true;
  std::error_code ignored;
  backoff.cancel();
  acceptor.close(ignored);
  auto copy = connections;
  for (auto* c : copy)
    c->shut();
}

void metrics_server::impl::want_metrics(
  const std::shared_ptr<http_connection>& c) {
  waiting.push_back(c);
  auto now = clock_type::now();
  // One request at a time; one that has not answered for a whole response
  // deadline is given up on (its answer, should it come, still serves).
  if (fetching && now - fetch_started < limits.response_deadline)
    return;
  fetching = true;
  fetch_started = now;
  auto gen = ++generation;
  std::weak_ptr<impl> weak = shared_from_this();
  source([weak, gen](std::optional<std::string> text) {
    auto self = weak.lock();
    if (!self)
      return;
    asio::post(self->ctx, [weak, gen, text = std::move(text)] {
      if (auto s = weak.lock())
        s->on_metrics(gen, text);
    });
  });
}

void metrics_server::impl::on_metrics(uint64_t gen,
                                      const std::optional<std::string>& text) {
  if (gen == generation)
    fetching = false;
  auto ready = std::move(waiting);
  waiting.clear();
  for (auto& weak : ready)
    if (auto c = weak.lock())
      c->on_metrics(text);
}

metrics_server::metrics_server(metrics_source source, metrics_limits limits)
  : impl_(std::make_shared<impl>(std::move(source), limits)) {}

metrics_server::~metrics_server() {
  stop();
}

std::optional<uint16_t> metrics_server::listen(const endpoint& where,
                                               std::string& error) {
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
  tcp::endpoint ep(addr, where.port);
  auto& acc = impl_->acceptor;
  std::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec)
    acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acc.bind(ep, ec);
  if (!ec)
    acc.listen(128, ec); // room to wait behind a full server
  // An upgrade hands this socket to a child, which then holds it too:
  // closing ours would no longer take it out of our epoll set, and Asio
  // deletes it explicitly only from a socket it was given (assign).
  int fd = ec ? -1 : acc.release(ec);
  if (!ec)
    acc.assign(ep.protocol(), fd, ec);
  if (ec) {
    error = ec.message();
    acc.close(ec);
    return std::nullopt;
  }
  return acc.local_endpoint(ec).port();
}

bool metrics_server::adopt(int fd, std::string& error) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  sockaddr_storage ss{};
  socklen_t ss_len = sizeof(ss);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0
      || !listening
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &ss_len) != 0
      || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    error = "descriptor " + std::to_string(fd)
            + " is not a listening TCP socket";
    return false;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  std::error_code ec;
  impl_->acceptor.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd,
                         ec);
  if (ec)
    error = ec.message();
  return !ec;
}

int metrics_server::duplicate_listener() {
  auto self = impl_;
  auto dup = [self] {
    return self->acceptor.is_open()
             ? ::fcntl(self->acceptor.native_handle(), F_DUPFD_CLOEXEC, 3)
             : -1;
  };
  if (!self->thread.joinable() || self->stopped)
    return dup();
  // On the server's thread, which alone closes the acceptor.
  std::promise<int> result;
  auto got = result.get_future();
  asio::post(self->ctx, [&] { result.set_value(dup()); });
  return got.get();
}

void metrics_server::start() {
  auto self = impl_;
  asio::post(self->ctx, [self] { self->maybe_accept(); });
  // (A raw pointer: the owner joins the thread before letting go.)
  self->thread = std::thread([ctx = &self->ctx] { ctx->run(); });
}

void metrics_server::stop() {
  auto& s = *impl_;
  if (s.stopped)
    return;
  s.stopped = true;
  // Close everything on the server's own thread, then let the context run
  // out of work: every handler completes before anything goes away.
  asio::post(s.ctx, [self = impl_] { self->close_all(); });
  s.guard.reset();
  if (s.thread.joinable())
    s.thread.join();
  else
    s.ctx.run();
}

std::size_t metrics_server::open_connections() const {
  return impl_->open.load();
}

} // namespace balance::net
