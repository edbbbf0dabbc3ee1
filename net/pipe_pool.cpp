#include "net/pipe_pool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <tuple>
#include <utility>
#include <vector>

namespace balance::net {

namespace {

// As many as one thread's busy bulk directions; more than that are closed.
constexpr std::size_t max_pooled = 16;
// Pipes lent out at once per thread (two descriptors each): enough for
// every bulk transfer a core can move, few enough that sockets (accept,
// backend connects) never go short of descriptors because of them. At
// most 128; less under a low descriptor limit (set_pipe_budget).
std::size_t max_in_use = 128;
// A splice in takes what the socket holds, up to the pipe's slots: with
// 1 MiB pipes (the default pipe-max-size) bulk costs about 0.8x the CPU
// per GB of 256 KiB ones, 0.67x HAProxy's (64 KiB; docs/architecture.md,
// "Bulk against HAProxy's splice"). Only a thread's first few pipes are
// that big: pipes count against the user's pipe quota by their slots
// (pipe-user-pages-soft, 64 MiB), and past it an unprivileged user's
// resizes fail and its new pipes get 8 KiB. 8 big ones per thread keep a
// thread's worst case (all 128 lent) at 38 MiB of slots instead of 32.
constexpr int big_pipe_size = 1024 * 1024;
constexpr std::size_t max_big = 8;
constexpr int pipe_size = 256 * 1024;

struct thread_pool {
  std::vector<std::tuple<int, int, bool>> free; ///< read, write, big
  std::size_t in_use = 0;
  std::size_t big = 0; ///< big pipes lent or pooled
  ~thread_pool() {
    for (auto [r, w, big] : free) {
      ::close(r);
      ::close(w);
    }
  }
};

thread_pool& local_pool() {
  thread_local thread_pool pool;
  return pool;
}

} // namespace

void set_pipe_budget(std::size_t per_thread) {
  max_in_use = per_thread < 128 ? per_thread : 128;
}

void release_idle_pipes() {
  auto& pool = local_pool();
  for (auto [r, w, big] : pool.free) {
    ::close(r);
    ::close(w);
    pool.big -= big;
  }
  pool.free.clear();
}

bool pooled_pipe::acquire() {
  if (read_fd_ >= 0)
    return true;
  auto& pool = local_pool();
  if (pool.in_use >= max_in_use)
    return false;
  if (!pool.free.empty()) {
    std::tie(read_fd_, write_fd_, big_) = pool.free.back();
    pool.free.pop_back();
    ++pool.in_use;
    return true;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
    return false;
  ++pool.in_use;
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  // 4 or 16 times the default. The pages are only pinned while bytes pass
  // through. May fail (pipe-max-size, per-user pipe quota): smaller then.
  big_ = pool.big < max_big
         && ::fcntl(write_fd_, F_SETPIPE_SZ, big_pipe_size) >= 0;
  pool.big += big_;
  if (!big_)
    ::fcntl(write_fd_, F_SETPIPE_SZ, pipe_size);
  return true;
}

void pooled_pipe::reset(bool holds_bytes) {
  if (read_fd_ < 0)
    return;
  auto& pool = local_pool();
  --pool.in_use;
  if (!holds_bytes && pool.free.size() < max_pooled) {
    pool.free.emplace_back(read_fd_, write_fd_, big_);
  } else {
    ::close(read_fd_);
    ::close(write_fd_);
    pool.big -= big_;
  }
  read_fd_ = write_fd_ = -1;
}

} // namespace balance::net
