#include "net/io_pool.hpp"

#include <condition_variable>
#include <mutex>

#include <asio/post.hpp>

namespace balance::net {

io_pool::io_pool(std::size_t threads) {
  if (threads == 0)
    threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

io_pool::~io_pool() {
  stop();
}

void io_pool::start() {
  for (auto& ctx : contexts_)
    threads_.emplace_back([c = ctx.get()] { c->run(); });
}

void io_pool::stop() {
  guards_.clear();
  for (auto& ctx : contexts_)
    ctx->stop();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
  threads_.clear();
}

} // namespace balance::net

namespace balance::net {

namespace {

struct pause_state {
  std::mutex mtx;
  std::condition_variable cv;
  std::size_t held = 0;
  bool released = false;

  void release() {
    std::lock_guard<std::mutex> lock{mtx};
    released = true;
    cv.notify_all();
  }
};

} // namespace

std::shared_ptr<void> io_pool::pause(std::chrono::milliseconds timeout) {
  auto st = std::make_shared<pause_state>();
  for (auto& ctx : contexts_)
    asio::post(*ctx, [st] {
      std::unique_lock<std::mutex> lock{st->mtx};
      ++st->held;
      st->cv.notify_all();
      st->cv.wait(lock, [&] { return st->released; });
    });
  std::unique_lock<std::mutex> lock{st->mtx};
  bool all = st->cv.wait_for(lock, timeout,
                             [&] { return st->held == contexts_.size(); });
  lock.unlock();
  if (!all) {
    st->release(); // late arrivals pass straight through
    return nullptr;
  }
  return std::shared_ptr<void>(static_cast<void*>(st.get()),
                               [st](void*) { st->release(); });
}

} // namespace balance::net
