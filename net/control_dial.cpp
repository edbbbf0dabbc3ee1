#include "net/control_dial.hpp"

#include <array>
#include <fcntl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

#include "net/control_preamble.hpp"

namespace balance::net {

namespace {

using clock = std::chrono::steady_clock;
using local_socket = asio::local::stream_protocol::socket;
using tcp_socket = asio::ip::tcp::socket;
using tls_stream = asio::ssl::stream<tcp_socket>;

/// Runs `ctx` until `done` or the deadline; false on the deadline.
bool run_until(asio::io_context& ctx, const bool& done,
               clock::time_point deadline) {
  ctx.restart();
  while (!done && clock::now() < deadline)
    ctx.run_one_until(deadline);
  return done;
}

/// One asynchronous step run to completion under the deadline.
template <class Start>
std::error_code step(asio::io_context& ctx, clock::time_point deadline,
                     Start start) {
  std::error_code result;
  bool done = false;
  start([&](std::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  if (!run_until(ctx, done, deadline))
    return asio::error::timed_out;
  return result;
}

/// Preamble out, the gate's one byte back.
template <class Stream>
void greet(asio::io_context& ctx, Stream& s, const std::string& secret,
           clock::time_point deadline, dial_result& r) {
  auto preamble = make_preamble(secret);
  auto ec = step(ctx, deadline, [&](auto handler) {
    asio::async_write(s, asio::buffer(preamble), handler);
  });
  char answer = 0;
  if (!ec)
    ec = step(ctx, deadline, [&](auto handler) {
      asio::async_read(s, asio::buffer(&answer, 1), handler);
    });
  if (!ec && answer == preamble_accepted)
    return;
  if (ec == asio::error::eof || ec == asio::error::connection_reset
      || (!ec && answer != preamble_accepted)) {
    r.refused = true;
    r.error = "the instance refused the connection (wrong secret, not "
              "allowed, or too many control connections)";
  } else {
    r.error = ec == asio::error::timed_out ? "no answer in time" : ec.message();
  }
}

/// A descriptor of our own for BASP (CAF closes it); the Asio socket then
/// closes its copy.
template <class Socket>
int take_fd(Socket& s) {
  int fd = ::fcntl(s.native_handle(), F_DUPFD_CLOEXEC, 0);
  std::error_code ignored;
  s.close(ignored);
  return fd;
}

/// Relays between a TLS stream and our end of the socketpair whose other
/// end BASP reads; both directions end together.
struct tls_relay : std::enable_shared_from_this<tls_relay> {
  tls_relay(tls_stream s, local_socket p)
    : stream(std::move(s)), pair(std::move(p)) {}

  void start() {
    pump(stream, pair, up);
    pump(pair, stream, down);
  }

  template <class From, class To>
  void pump(From& from, To& to, std::array<char, 8192>& buf) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from,
                                             &to, &buf](std::error_code ec,
                                                        std::size_t n) {
      if (ec)
        return self->shut();
      asio::async_write(to, asio::buffer(buf.data(), n),
                        [self, &from, &to, &buf](std::error_code ec,
                                                 std::size_t) {
                          if (ec)
                            return self->shut();
                          self->pump(from, to, buf);
                        });
    });
  }

  void shut() {
    std::error_code ignored;
    stream.lowest_layer().close(ignored);
    pair.close(ignored);
  }

  tls_stream stream;
  local_socket pair;
  std::array<char, 8192> up{}, down{};
};

} // namespace

struct control_link::impl {
  struct running {
    std::unique_ptr<asio::io_context> ctx;
    std::thread thread;
  };
  std::vector<running> relays;

  ~impl() {
    for (auto& r : relays) {
      r.ctx->stop();
      if (r.thread.joinable())
        r.thread.join();
    }
  }
};

control_link::control_link() : impl_(std::make_unique<impl>()) {}
control_link::~control_link() = default;

dial_result control_link::dial_local(const std::string& path,
                                     const std::string& secret,
                                     std::chrono::milliseconds timeout) {
  dial_result r;
  auto deadline = clock::now() + timeout;
  asio::io_context ctx{1};
  local_socket s(ctx);
  auto ec = step(ctx, deadline, [&](auto handler) {
    s.async_connect(asio::local::stream_protocol::endpoint(path), handler);
  });
  if (ec) {
    r.error = "cannot connect to " + path + ": "
              + (ec == asio::error::timed_out ? std::string("no answer in time")
                                              : ec.message());
    return r;
  }
  greet(ctx, s, secret, deadline, r);
  if (r.error.empty())
    r.fd = take_fd(s);
  return r;
}

dial_result control_link::dial_tcp(const std::string& host, uint16_t port,
                                   const std::string& secret,
                                   std::shared_ptr<asio::ssl::context> tls,
                                   std::chrono::milliseconds timeout) {
  dial_result r;
  auto deadline = clock::now() + timeout;
  auto ctx = std::make_unique<asio::io_context>(1);
  asio::ip::tcp::resolver resolver(*ctx);
  asio::ip::tcp::resolver::results_type found;
  auto ec = step(*ctx, deadline, [&](auto handler) {
    resolver.async_resolve(host, std::to_string(port),
                           [&found, handler](std::error_code ec, auto results) {
                             found = results;
                             handler(ec);
                           });
  });
  if (ec) {
    r.error = "cannot resolve " + host + ": " + ec.message();
    return r;
  }
  tcp_socket sock(*ctx);
  ec = step(*ctx, deadline, [&](auto handler) {
    asio::async_connect(sock, found,
                        [handler](std::error_code ec, auto&&) { handler(ec); });
  });
  if (ec) {
    r.error = (ec == asio::error::timed_out ? std::string("no answer in time")
                                            : ec.message());
    return r;
  }
  sock.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!tls) {
    greet(*ctx, sock, secret, deadline, r);
    if (r.error.empty())
      r.fd = take_fd(sock);
    return r;
  }
  tls_stream stream(std::move(sock), *tls);
  ec = step(*ctx, deadline, [&](auto handler) {
    stream.async_handshake(asio::ssl::stream_base::client, handler);
  });
  if (ec) {
    r.refused = ec != asio::error::timed_out;
    r.error = "TLS handshake failed: " + ec.message();
    return r;
  }
  // The certificate is the credential; the secret field goes unused.
  greet(*ctx, stream, secret, deadline, r);
  if (!r.error.empty())
    return r;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    r.error = "socketpair failed";
    return r;
  }
  local_socket ours(*ctx);
  ours.assign(asio::local::stream_protocol(), pair[0], ec);
  std::make_shared<tls_relay>(std::move(stream), std::move(ours))->start();
  auto* raw = ctx.get();
  impl_->relays.push_back({std::move(ctx), std::thread([raw] {
                             raw->restart();
                             raw->run();
                           })});
  r.fd = pair[1];
  return r;
}

} // namespace balance::net
