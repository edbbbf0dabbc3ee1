// Per-thread pool of pipes for splice(): a direction holds one only while a
// bulk transfer moves through it, so idle connections cost no descriptors.
#pragma once

#include <cstddef>

namespace balance::net {

/// Pipes one thread may lend out at once (each is two descriptors); set
/// at start from the descriptor limit, before the io threads run.
void set_pipe_budget(std::size_t per_thread);

/// Closes the calling thread's idle pipes (out of descriptors: they are
/// better spent on sockets).
void release_idle_pipes();

/// A pipe on loan from the calling thread's pool.
class pooled_pipe {
public:
  pooled_pipe() = default;
  pooled_pipe(const pooled_pipe&) = delete;
  pooled_pipe& operator=(const pooled_pipe&) = delete;
  ~pooled_pipe() { reset(true); } // not known to be empty: closed

  /// Takes a pipe from this thread's pool or makes one; false when none can
  /// be had (this thread's budget, the descriptor limit): the caller copies
  /// instead.
  bool acquire();
  /// Gives the pipe back to this thread's pool; one that still holds bytes
  /// (`holds_bytes`) is closed instead, so no pipe is lent out dirty.
  void reset(bool holds_bytes);

  explicit operator bool() const { return read_fd_ >= 0; }
  int read_fd() const { return read_fd_; }
  int write_fd() const { return write_fd_; }

private:
  int read_fd_ = -1;
  int write_fd_ = -1;
  bool big_ = false; ///< one of the thread's few 1 MiB pipes
};

} // namespace balance::net
