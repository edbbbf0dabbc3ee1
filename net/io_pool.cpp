#include "net/io_pool.hpp"

namespace balance::net {

io_pool::io_pool(std::size_t threads) {
  if (threads == 0)
    threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    live_.push_back(std::make_unique<std::atomic<long>>(0));
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

asio::io_context& io_pool::next() {
  auto i = next_.fetch_add(1, std::memory_order_relaxed);
  return *contexts_[i % contexts_.size()];
}

std::size_t io_pool::index_of(const asio::io_context& ctx) const {
  for (std::size_t i = 0; i < contexts_.size(); ++i)
    if (contexts_[i].get() == &ctx)
      return i;
  return 0;
}

void io_pool::count_connection(asio::io_context& ctx, long delta) {
  live_[index_of(ctx)]->fetch_add(delta, std::memory_order_relaxed);
}

long io_pool::connections(asio::io_context& ctx) const {
  return live_[index_of(ctx)]->load(std::memory_order_relaxed);
}

asio::io_context& io_pool::least_loaded() {
  std::size_t best = 0;
  for (std::size_t i = 1; i < contexts_.size(); ++i)
    if (live_[i]->load(std::memory_order_relaxed)
        < live_[best]->load(std::memory_order_relaxed))
      best = i;
  return *contexts_[best];
}

} // namespace balance::net
