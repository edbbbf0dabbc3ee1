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
constexpr int pipe_size = 256 * 1024;

struct thread_pool {
  std::vector<std::pair<int, int>> free;
  std::size_t in_use = 0;
  ~thread_pool() {
    for (auto [r, w] : free) {
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
  for (auto [r, w] : pool.free) {
    ::close(r);
    ::close(w);
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
    std::tie(read_fd_, write_fd_) = pool.free.back();
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
  // Four times the default: a quarter of the splice calls per byte. The
  // pages are only pinned while bytes pass through. May fail (pipe-max-size,
  // per-user pipe quota): the default size then.
  ::fcntl(write_fd_, F_SETPIPE_SZ, pipe_size);
  return true;
}

void pooled_pipe::reset(bool holds_bytes) {
  if (read_fd_ < 0)
    return;
  auto& pool = local_pool();
  --pool.in_use;
  if (!holds_bytes && pool.free.size() < max_pooled) {
    pool.free.emplace_back(read_fd_, write_fd_);
  } else {
    ::close(read_fd_);
    ::close(write_fd_);
  }
  read_fd_ = write_fd_ = -1;
}

} // namespace balance::net
