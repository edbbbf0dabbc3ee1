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
