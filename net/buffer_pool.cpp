#include "net/buffer_pool.hpp"

#include <vector>

namespace balance::net {

namespace {

// Keeps enough buffers for the connections that are busy at once on one
// thread; more than that goes back to malloc.
constexpr std::size_t max_pooled = 16;

struct thread_pool {
  std::vector<relay_buffer*> free;
  ~thread_pool() {
    for (auto* b : free)
      delete b;
  }
};

thread_pool& local_pool() {
  thread_local thread_pool pool;
  return pool;
}

} // namespace

void pooled_buffer::acquire() {
  if (buf_)
    return;
  auto& pool = local_pool();
  if (pool.free.empty()) {
    buf_ = new relay_buffer;
  } else {
    buf_ = pool.free.back();
    pool.free.pop_back();
  }
}

void pooled_buffer::reset() {
  if (!buf_)
    return;
  auto& pool = local_pool();
  if (pool.free.size() < max_pooled)
    pool.free.push_back(buf_);
  else
    delete buf_;
  buf_ = nullptr;
}

} // namespace balance::net
