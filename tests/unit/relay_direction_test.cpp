// A relay_direction moves bytes by recv/send, and by splice() through a
// pooled pipe once a transfer turns out to be bulk; these cases run it
// between two real loopback pairs, the way the connection does.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sys/ioctl.h>
#include <string>
#include <thread>

#include "net/pipe_pool.hpp"
#include "net/relay_direction.hpp"
#include "tcp_pair.hpp"

using balance::net::pooled_buffer;
using balance::net::pooled_pipe;
using balance::net::relay_direction;

namespace {

struct owned_pair : tcp_pair {
  ~owned_pair() {
    if (near >= 0)
      ::close(near);
  }
};

void wait_ready(int fd, short events) {
  pollfd p{fd, events, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
}

// Waits (bounded) until `fd` has at least `n` bytes to read.
void wait_queued(int fd, std::size_t n) {
  for (int i = 0; i < 500; ++i) {
    int queued = 0;
    REQUIRE(::ioctl(fd, FIONREAD, &queued) == 0);
    if (static_cast<std::size_t>(queued) >= n)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("fewer than " << n << " bytes arrived");
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

void write_all(int fd, const std::string& data) {
  for (std::size_t off = 0; off < data.size();) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    off += static_cast<std::size_t>(n);
  }
}

std::string read_to_eof(int fd) {
  std::string got;
  char chunk[65536];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0;)
    got.append(chunk, static_cast<std::size_t>(n));
  return got;
}

struct relay_outcome {
  bool eof = false;
  bool spliced = false; ///< bytes sat in the pipe at some point
  std::size_t moved = 0;
};

/// Relays `src` to `dst` until EOF as the connection does: send what is
/// pending, then receive. Bounded: every wait is a poll with a timeout.
relay_outcome relay_until_eof(relay_direction& step, int src, int dst) {
  relay_outcome out;
  for (int turn = 0; turn < 1000000; ++turn) {
    if (step.pending()) {
      if (!step.send(dst)) {
        wait_ready(dst, POLLOUT);
        continue;
      }
      REQUIRE_FALSE(step.error());
    }
    if (step.eof()) {
      out.eof = true;
      return out;
    }
    if (!step.receive(src, false)) {
      wait_ready(src, POLLIN);
      continue;
    }
    REQUIRE_FALSE(step.error());
    out.spliced = out.spliced || step.piped();
    out.moved += step.pending_bytes();
  }
  return out;
}

/// Pushes `data` through a relay_direction between two loopback pairs.
relay_outcome relay_through(relay_direction& step, const std::string& data,
                            std::string& received) {
  owned_pair in;
  owned_pair out;
  std::thread writer([&] {
    write_all(in.far, data);
    ::shutdown(in.far, SHUT_WR);
  });
  std::thread reader([&] { received = read_to_eof(out.far); });
  auto outcome = relay_until_eof(step, in.near, out.near);
  ::shutdown(out.near, SHUT_WR);
  writer.join();
  reader.join();
  step.release();
  return outcome;
}

} // namespace

TEST_CASE("a bulk transfer moves by splice and arrives intact",
          "[relay_direction]") {
  relay_direction step;
  auto data = pattern(4 << 20);
  std::string received;
  auto outcome = relay_through(step, data, received);
  CHECK(outcome.eof);
  CHECK(outcome.spliced);
  CHECK(outcome.moved == data.size());
  CHECK(received == data);
}

TEST_CASE("without leave to splice a bulk transfer is copied",
          "[relay_direction]") {
  relay_direction step;
  step.never_splice(); // as with -p, whose dump needs the bytes
  auto data = pattern(1 << 20);
  std::string received;
  auto outcome = relay_through(step, data, received);
  CHECK(outcome.eof);
  CHECK_FALSE(outcome.spliced);
  CHECK(received == data);
}

TEST_CASE("small messages are copied and a bulk direction copies again once "
          "they are small",
          "[relay_direction]") {
  owned_pair in;
  owned_pair out;
  std::thread reader([&] { read_to_eof(out.far); });
  relay_direction step;
  auto move_one = [&](const std::string& msg) {
    write_all(in.far, msg);
    std::size_t moved = 0;
    bool spliced = false;
    while (moved < msg.size()) {
      if (!step.receive(in.near, false)) {
        wait_ready(in.near, POLLIN);
        continue;
      }
      REQUIRE_FALSE(step.error());
      spliced = spliced || step.piped();
      moved += step.pending_bytes();
      while (!step.send(out.near))
        wait_ready(out.near, POLLOUT);
      REQUIRE_FALSE(step.error());
    }
    return spliced;
  };
  CHECK_FALSE(move_one("hello"));
  CHECK_FALSE(step.splicing());
  move_one(pattern(256 * 1024)); // fills a buffer: bulk from now on
  CHECK(step.splicing());
  CHECK(move_one(pattern(100))); // spliced, and too small to go on so
  CHECK_FALSE(step.splicing());
  CHECK_FALSE(move_one("again"));
  step.release();
  ::shutdown(out.near, SHUT_WR);
  reader.join();
}

TEST_CASE("a pipe still holding bytes is closed, not lent out again",
          "[relay_direction]") {
  pooled_pipe pipe;
  REQUIRE(pipe.acquire());
  REQUIRE(::write(pipe.write_fd(), "x", 1) == 1);
  pipe.reset(true);
  REQUIRE(pipe.acquire());
  char byte;
  CHECK(::read(pipe.read_fd(), &byte, 1) == -1);
  CHECK(errno == EAGAIN);
  int lent = pipe.read_fd();
  pipe.reset(false);
  pooled_pipe next;
  REQUIRE(next.acquire());
  CHECK(next.read_fd() == lent); // an empty one goes back to the pool
}

TEST_CASE("a thread's first 8 pipes hold 1 MiB, the rest 256 KiB",
          "[relay_direction]") {
  std::ifstream max_file("/proc/sys/fs/pipe-max-size");
  long max_size = 0;
  max_file >> max_size;
  int first = 0, ninth = 0, again = 0;
  std::thread([&] { // a thread of its own: a pool of its own
    pooled_pipe pipes[9];
    for (auto& p : pipes)
      REQUIRE(p.acquire());
    first = ::fcntl(pipes[0].write_fd(), F_GETPIPE_SZ);
    ninth = ::fcntl(pipes[8].write_fd(), F_GETPIPE_SZ);
    pipes[0].reset(true); // closed: a big one may be made again
    pooled_pipe next;
    REQUIRE(next.acquire());
    again = ::fcntl(next.write_fd(), F_GETPIPE_SZ);
  }).join();
  if (max_size >= 1 << 20) {
    CHECK(first == 1 << 20);
    CHECK(again == 1 << 20);
  }
  CHECK(ninth <= 256 * 1024);
}

TEST_CASE("a bulk direction reads on past an urgent mark with a FIN behind",
          "[relay_direction]") {
  // splice() stops at an urgent mark and, with a FIN queued, says 0 there
  // as if the stream had ended: the bytes after the mark must still come.
  owned_pair in;
  owned_pair out;
  std::string received;
  std::thread reader([&] { received = read_to_eof(out.far); });
  relay_direction step;
  // Into bulk mode the way the relay gets there: a receive fills a buffer.
  auto bulk = pattern(pooled_buffer::capacity());
  write_all(in.far, bulk);
  wait_queued(in.near, bulk.size());
  REQUIRE(step.receive(in.near, false));
  REQUIRE(step.splicing());
  while (!step.send(out.near))
    wait_ready(out.near, POLLOUT);
  REQUIRE_FALSE(step.error());
  auto before = pattern(8192);
  write_all(in.far, before);
  REQUIRE(::send(in.far, "!", 1, MSG_OOB) == 1);
  write_all(in.far, "after the mark");
  ::shutdown(in.far, SHUT_WR);
  wait_queued(in.near, before.size());
  auto outcome = relay_until_eof(step, in.near, out.near);
  ::shutdown(out.near, SHUT_WR);
  reader.join();
  step.release();
  CHECK(outcome.eof);
  CHECK(outcome.spliced);
  // The urgent byte is dropped.
  CHECK(received == bulk + before + "after the mark");
}
