// The acceptor out of descriptors (DESIGN rule 4): an accept() that fails
// with EMFILE is counted and backed off from, and accepting resumes by
// itself once descriptors are free again. Deterministic, unlike a whole
// daemon under RLIMIT_NOFILE (whose descriptors may run out at the backend
// connect instead): the test itself uses up this process's descriptors.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "net/acceptor.hpp"

using balance::net::acceptor;

namespace {

/// Polls `pred` every millisecond for up to five seconds.
template <class Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// Holds every descriptor this process may still open (under a limit
/// lowered to `cap`) until release(). No Catch assertion may run while it
/// holds them: UBSan's checks inside Catch need a descriptor themselves.
struct descriptor_hog {
  rlimit saved{};
  std::vector<int> fds;
  int stopped_by = 0; ///< errno of the dup() that failed: EMFILE

  explicit descriptor_hog(rlim_t cap) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit low = saved;
    if (low.rlim_cur > cap)
      low.rlim_cur = cap;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (int fd; (fd = ::dup(STDERR_FILENO)) >= 0;)
      fds.push_back(fd);
    stopped_by = errno;
  }
  void release() {
    for (int fd : fds)
      ::close(fd);
    fds.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved);
  }
  ~descriptor_hog() { release(); }
};

} // namespace

// Tagged: not run in the sanitizer build (see tests/CMakeLists.txt).
TEST_CASE("out of descriptors the acceptor backs off, then resumes",
          "[acceptor][fd-exhaustion]") {
  std::string error;
  int listen_fd = balance::net::open_listener("127.0.0.1", 0, false, error);
  REQUIRE(listen_fd >= 0);
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len)
          == 0);

  asio::io_context ctx;
  auto work = asio::make_work_guard(ctx);
  std::atomic<int> accepted{0};
  acceptor acc(ctx, listen_fd,
               [&](asio::io_context&, int fd, const balance::endpoint&) {
                 ::close(fd);
                 ++accepted;
               });
  std::thread io([&] { ctx.run(); });
  acc.start();

  // Made before the descriptors run out: connecting needs no new one.
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(client >= 0);
  {
    descriptor_hog hog(1024);
    int connected = ::connect(client, reinterpret_cast<sockaddr*>(&addr), len);
    bool backed_off = eventually([&] { return acc.accept_errors() > 0; });
    int accepted_while_out = accepted;
    hog.release();
    REQUIRE(hog.stopped_by == EMFILE);
    REQUIRE(connected == 0);
    CHECK(backed_off);
    CHECK(accepted_while_out == 0);
    CHECK(eventually([&] { return accepted == 1; }));
  }
  acc.stop([] {});
  work.reset();
  ctx.stop();
  io.join();
  ::close(client);
}

namespace {

sockaddr_in address_of(int listen_fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len)
          == 0);
  return addr;
}

/// Opens `n` connections to `addr` (the kernel completes each handshake
/// into the listener's backlog) and returns their descriptors.
std::vector<int> connect_many(const sockaddr_in& addr, int n) {
  std::vector<int> clients;
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr),
                      sizeof(addr))
            == 0);
    clients.push_back(fd);
  }
  return clients;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds)
    ::close(fd);
  fds.clear();
}

} // namespace

// The socket is edge-triggered: no new edge comes for clients that wait
// behind a full batch, so the acceptor must come back for them itself.
TEST_CASE("a backlog longer than one batch is accepted in full",
          "[acceptor]") {
  std::string error;
  int listen_fd = balance::net::open_listener("127.0.0.1", 0, false, error);
  REQUIRE(listen_fd >= 0);
  auto addr = address_of(listen_fd);
  auto clients = connect_many(addr, 200); // queued before the acceptor runs

  asio::io_context ctx;
  auto work = asio::make_work_guard(ctx);
  std::atomic<int> accepted{0};
  acceptor acc(ctx, listen_fd,
               [&](asio::io_context&, int fd, const balance::endpoint&) {
                 ::close(fd);
                 ++accepted;
               });
  std::thread io([&] { ctx.run(); });
  acc.start();
  CHECK(eventually([&] { return accepted == 200; }));
  auto more = connect_many(addr, 3); // and the edges still come after
  CHECK(eventually([&] { return accepted == 203; }));
  acc.stop([] {});
  work.reset();
  io.join();
  close_all(clients);
  close_all(more);
}

// Where SO_REUSEPORT siblings are refused every io thread watches a dup of
// one socket. One acceptor closing must leave the socket in the others'
// epoll sets and take it out of its own (the socket lives on in the dups,
// so closing the descriptor alone would not): events for a destroyed
// acceptor would be a use after free (ASan).
TEST_CASE("acceptors sharing one socket each take clients, and one can go",
          "[acceptor]") {
  std::string error;
  int listen_fd = balance::net::open_listener("127.0.0.1", 0, false, error);
  REQUIRE(listen_fd >= 0);
  auto addr = address_of(listen_fd);

  asio::io_context ctx_a, ctx_b;
  auto work_a = asio::make_work_guard(ctx_a);
  auto work_b = asio::make_work_guard(ctx_b);
  std::atomic<int> by_a{0}, by_b{0};
  auto counting = [](std::atomic<int>& n) {
    return [&n](asio::io_context&, int fd, const balance::endpoint&) {
      ::close(fd);
      ++n;
    };
  };
  auto acc_a = std::make_unique<acceptor>(ctx_a, listen_fd, counting(by_a));
  acceptor acc_b(ctx_b, ::dup(listen_fd), counting(by_b));
  std::thread io_a([&] { ctx_a.run(); });
  std::thread io_b([&] { ctx_b.run(); });
  acc_a->start();
  acc_b.start();

  auto clients = connect_many(addr, 50);
  CHECK(eventually([&] { return by_a + by_b == 50; }));

  std::atomic<bool> a_closed{false};
  acc_a->stop([&] { a_closed = true; });
  REQUIRE(eventually([&] { return a_closed.load(); }));
  acc_a.reset();
  int b_before = by_b;
  auto more = connect_many(addr, 20);
  CHECK(eventually([&] { return by_b == b_before + 20; }));
  CHECK(by_a + by_b == 70);

  acc_b.stop([] {});
  work_a.reset();
  work_b.reset();
  io_a.join();
  io_b.join();
  close_all(clients);
  close_all(more);
}

// The owner may destroy the acceptor as soon as `closed` runs. A client
// that came while the io thread was busy is collected from epoll after the
// stop was queued, and that event runs after the stop: it must still find
// the acceptor (a use after free otherwise, which ASan reports).
TEST_CASE("an event queued behind the stop runs before closed is reported",
          "[acceptor]") {
  std::string error;
  int listen_fd = balance::net::open_listener("127.0.0.1", 0, false, error);
  REQUIRE(listen_fd >= 0);
  auto addr = address_of(listen_fd);

  asio::io_context ctx;
  auto work = asio::make_work_guard(ctx);
  auto acc = std::make_unique<acceptor>(
    ctx, listen_fd,
    [](asio::io_context&, int fd, const balance::endpoint&) { ::close(fd); });
  std::thread io([&] { ctx.run(); });
  acc->start();

  // Hold the io thread, queue the stop behind it, then make the listening
  // socket readable: its event is collected after the stop was queued.
  std::atomic<bool> holding{false}, release{false}, closed{false};
  asio::post(ctx, [&] {
    holding = true;
    while (!release)
      std::this_thread::yield();
  });
  REQUIRE(eventually([&] { return holding.load(); }));
  acc->stop([&] {
    acc.reset(); // as the listener actor may, once every acceptor closed
    closed = true;
  });
  auto clients = connect_many(addr, 1);
  release = true;
  CHECK(eventually([&] { return closed.load(); }));
  work.reset();
  io.join();
  close_all(clients);
}
