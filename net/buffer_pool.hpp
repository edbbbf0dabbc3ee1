// Per-thread pool of relay buffers: a connection holds a buffer only while
// bytes are in flight, so idle connections cost no buffer memory.
#pragma once

#include <cstddef>
#include <memory>

namespace balance::net {

constexpr std::size_t relay_buffer_size = 64 * 1024;

struct relay_buffer {
  char data[relay_buffer_size];
};

/// A buffer on loan from the calling thread's pool.
class pooled_buffer {
public:
  pooled_buffer() = default;
  pooled_buffer(pooled_buffer&& other) noexcept : buf_(other.buf_) {
    other.buf_ = nullptr;
  }
  pooled_buffer& operator=(pooled_buffer&& other) noexcept {
    std::swap(buf_, other.buf_);
    return *this;
  }
  ~pooled_buffer() { reset(); }

  /// Takes a buffer from this thread's pool (or allocates one).
  void acquire();
  /// Gives the buffer back to this thread's pool.
  void reset();

  explicit operator bool() const { return buf_ != nullptr; }
  char* data() { return buf_->data; }
  static constexpr std::size_t capacity() { return relay_buffer_size; }

private:
  relay_buffer* buf_ = nullptr;
};

} // namespace balance::net
