// relay_step when the sink has failed: a send to a peer that reset the
// connection reports why, on the copy path and on the splice path, instead
// of spinning or claiming the bytes went out.
#include <catch2/catch.hpp>

#include <csignal>
#include <poll.h>
#include <string>

#include "net/relay_step.hpp"
#include "tcp_pair.hpp"

using balance::net::relay_step;

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
void receive_all(relay_step& step, owned_pair& in, const std::string& data) {
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
          "[relay_step]") {
  owned_pair in, out;
  relay_step step;
  receive_all(step, in, "a small message\n");
  REQUIRE(step.piped == 0);
  out.reset_far();
  CHECK(step.send(out.near));
  CHECK(is_peer_gone(step.ec));
  step.release();
}

TEST_CASE("a splice sent to a peer that reset reports the reset",
          "[relay_step]") {
  // splice() has no MSG_NOSIGNAL; the daemon ignores SIGPIPE, so do we.
  auto old = std::signal(SIGPIPE, SIG_IGN);
  owned_pair in, out;
  relay_step step;
  step.splicing = true; // as after a full buffer: the next receive splices
  receive_all(step, in, std::string(1000, 'x'));
  REQUIRE(step.piped > 0);
  out.reset_far();
  CHECK(step.send(out.near));
  CHECK(is_peer_gone(step.ec));
  step.release();
  std::signal(SIGPIPE, old);
}
