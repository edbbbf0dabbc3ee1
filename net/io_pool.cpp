#include "net/io_pool.hpp"

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
