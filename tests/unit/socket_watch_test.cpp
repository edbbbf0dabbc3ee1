// socket_watch puts relay sockets straight into Asio's epoll set; these
// cases pin down what the relay relies on, on a real loopback TCP pair.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "net/relay_direction.hpp"
#include "net/socket_watch.hpp"
#include "tcp_pair.hpp"

using balance::net::relay_direction;
using balance::net::socket_watch;

namespace {

struct watched {
  // Declared before the io_context so that it outlives it: a watch still
  // queued in the scheduler is destroyed along with the io_context.
  socket_watch watch{&watched::on_events, this};
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{
    ctx.get_executor()};
  int calls = 0;
  bool readable = false;
  bool peer_done = false;
  bool urgent = false;
  bool failed = false;

  static void on_events(void* self, socket_watch& w) {
    auto* t = static_cast<watched*>(self);
    ++t->calls;
    t->readable = w.readable;
    t->peer_done = w.peer_done;
    t->urgent = w.urgent;
    t->failed = w.failed;
  }
  /// Runs the io_context until the handler ran `n` times in all (bounded).
  bool run_until_calls(int n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (calls < n && !ctx.stopped()
           && std::chrono::steady_clock::now() < deadline)
      ctx.run_one_for(std::chrono::milliseconds(100));
    return calls >= n;
  }
};

} // namespace

TEST_CASE("a watched socket reports input, and no peer shutdown without a FIN",
          "[socket_watch]") {
  tcp_pair pair;
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  pair.send("hello");
  REQUIRE(t.run_until_calls(1));
  CHECK(t.readable);
  CHECK_FALSE(t.peer_done);
}

TEST_CASE("bytes and a FIN that arrive together are reported as peer_done",
          "[socket_watch]") {
  // The case a short read cannot tell apart from a drained socket: no edge
  // follows for the FIN, so the event itself must say so.
  tcp_pair pair;
  pair.send("last words");
  ::shutdown(pair.far, SHUT_WR);
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(t.run_until_calls(1));
  CHECK(t.readable);
  REQUIRE(t.peer_done);

  relay_direction step;
  REQUIRE(step.receive(t.watch.fd(), !t.peer_done));
  CHECK(std::string(step.pending_data(), step.pending_bytes()) == "last words");
  CHECK(step.eof());
}

TEST_CASE("events do not use up the io_context's work", "[socket_watch]") {
  // Asio counts every completed operation as finished work; a watch's
  // events must not, or the io thread's run() would return early.
  tcp_pair pair;
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  pair.send("one");
  REQUIRE(t.run_until_calls(1));
  CHECK_FALSE(t.ctx.stopped());
  relay_direction step;
  REQUIRE(step.receive(t.watch.fd(), true));
  CHECK(step.drained()); // the short read emptied it: the next edge says more
  pair.send("two");
  REQUIRE(t.run_until_calls(2));
  CHECK_FALSE(t.ctx.stopped());
}

TEST_CASE("a short read counts as drained only when asked to",
          "[socket_watch]") {
  tcp_pair pair;
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  pair.send("abc");
  REQUIRE(t.run_until_calls(1));

  relay_direction step;
  SECTION("draining: one read, done") {
    REQUIRE(step.receive(t.watch.fd(), true));
    CHECK(step.pending_bytes() == 3);
    CHECK(step.drained());
    CHECK_FALSE(step.eof());
  }
  SECTION("not draining: reads on until EAGAIN") {
    REQUIRE(step.receive(t.watch.fd(), false));
    CHECK(step.pending_bytes() == 3);
    CHECK(step.drained());
    CHECK_FALSE(step.eof());
    CHECK_FALSE(step.receive(t.watch.fd(), false)); // nothing left
  }
}

TEST_CASE("urgent data makes a short read no proof of a drained socket",
          "[socket_watch]") {
  // recv stops short at the urgent mark with bytes behind it; no new edge
  // follows, so the event has to say so.
  tcp_pair pair;
  pair.send("ab");
  REQUIRE(::send(pair.far, "c", 1, MSG_OOB) == 1);
  pair.send("def");
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(t.run_until_calls(1));
  CHECK(t.readable);
  REQUIRE(t.urgent);
  CHECK_FALSE(t.watch.short_read_drains());

  relay_direction step;
  REQUIRE(step.receive(t.watch.fd(), t.watch.short_read_drains()));
  CHECK(std::string(step.pending_data(), step.pending_bytes())
        == "abdef"); // in-band bytes
  CHECK(step.drained());
}

TEST_CASE("a reset is reported as failed", "[socket_watch]") {
  tcp_pair pair;
  linger abort_on_close{1, 0};
  REQUIRE(::setsockopt(pair.far, SOL_SOCKET, SO_LINGER, &abort_on_close,
                       sizeof(abort_on_close))
          == 0);
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  ::close(pair.far);
  pair.far = -1;
  REQUIRE(t.run_until_calls(1));
  CHECK(t.failed);
  CHECK(t.peer_done);
}

TEST_CASE("bytes that came before a reset are read first, then the reset",
          "[socket_watch][relay_direction]") {
  // The relay delivers them before it passes the reset on; the error is
  // reported by the kernel once, so the step must keep it.
  tcp_pair pair;
  pair.send("last words");
  linger abort_on_close{1, 0};
  REQUIRE(::setsockopt(pair.far, SOL_SOCKET, SO_LINGER, &abort_on_close,
                       sizeof(abort_on_close))
          == 0);
  ::close(pair.far);
  pair.far = -1;
  watched t;
  std::error_code ec;
  t.watch.watch(t.ctx, pair.near, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(t.run_until_calls(1));
  REQUIRE(t.failed);

  relay_direction step;
  REQUIRE(step.receive(t.watch.fd(), t.watch.short_read_drains()));
  CHECK(std::string(step.pending_data(), step.pending_bytes()) == "last words");
  CHECK(step.aborted());
  CHECK(step.error() == std::errc::connection_reset);
  CHECK_FALSE(step.eof());
}
