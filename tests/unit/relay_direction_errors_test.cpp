// relay_direction when the sink has failed: a send to a peer that reset the
// connection reports why, on the copy path and on the splice path, instead
// of spinning or claiming the bytes went out.
#include <catch2/catch.hpp>

#include <csignal>
#include <poll.h>
#include <string>

#include "net/buffer_pool.hpp"
#include "net/relay_direction.hpp"
#include "tcp_pair.hpp"

using balance::net::pooled_buffer;
using balance::net::relay_direction;

namespace {

struct owned_pair : tcp_pair {
  ~owned_pair() {
    if (near >= 0)
      ::close(near);
  }
  /// The far end resets the connection (close with a zero linger), and
  /// the near end has seen the RST once this returns.
  void reset_far() {
    linger lg{1, 0};
    REQUIRE(::setsockopt(far, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    ::close(far);
    far = -1;
    pollfd p{near, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
  }
};

/// Receives `data` sent into `in` with `step` (bounded waits).
void receive_all(relay_direction& step, owned_pair& in, const std::string& data) {
  REQUIRE(::send(in.far, data.data(), data.size(), 0)
          == static_cast<ssize_t>(data.size()));
  for (int turn = 0; step.pending_bytes() < data.size() && turn < 1000; ++turn) {
    pollfd p{in.near, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    if (step.pending())
      break;
    step.receive(in.near, true);
  }
  REQUIRE(step.pending_bytes() == data.size());
}

bool is_peer_gone(const std::error_code& ec) {
  return ec.value() == ECONNRESET || ec.value() == EPIPE;
}

} // namespace

TEST_CASE("a copy sent to a peer that reset reports the reset",
          "[relay_direction]") {
  owned_pair in, out;
  relay_direction step;
  receive_all(step, in, "a small message\n");
  REQUIRE_FALSE(step.piped());
  out.reset_far();
  CHECK(step.send(out.near));
  CHECK(is_peer_gone(step.error()));
  step.release();
}

TEST_CASE("a splice sent to a peer that reset reports the reset",
          "[relay_direction]") {
  // splice() has no MSG_NOSIGNAL; the daemon ignores SIGPIPE, so do we.
  auto old = std::signal(SIGPIPE, SIG_IGN);
  owned_pair in, out, sink;
  relay_direction step;
  // Into bulk mode the way the relay gets there: a receive fills a buffer,
  // which goes to a healthy sink; the next receive splices.
  receive_all(step, in, std::string(pooled_buffer::capacity(), 'b'));
  REQUIRE(step.splicing());
  for (int turn = 0; step.pending() && turn < 1000; ++turn) {
    step.send(sink.near);
    char drain[65536];
    while (::recv(sink.far, drain, sizeof(drain), MSG_DONTWAIT) > 0) {
    }
  }
  REQUIRE_FALSE(step.pending());
  receive_all(step, in, std::string(1000, 'x'));
  REQUIRE(step.piped());
  out.reset_far();
  CHECK(step.send(out.near));
  CHECK(is_peer_gone(step.error()));
  step.release();
  std::signal(SIGPIPE, old);
}
