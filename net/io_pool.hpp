// A fixed set of single-threaded io_contexts, one thread each: sockets live
// on one context for their whole life, so the data path needs no strands.
#pragma once

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace balance::net {

class io_pool {
public:
  explicit io_pool(std::size_t threads);
  ~io_pool();

  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// Starts the threads.
  void start();
  /// Lets the contexts run out of work, stops them and joins the threads.
  void stop();

  std::size_t size() const { return contexts_.size(); }
  asio::io_context& at(std::size_t i) { return *contexts_[i]; }

  /// Holds every io thread in a handler of its own until the returned
  /// object goes (an upgrade forks under it: no thread closes a socket
  /// while a child holds copies of the descriptors, see upgrade.cpp);
  /// null when not all of them got there within `timeout` (a thread busy
  /// elsewhere), and then none is held.
  std::shared_ptr<void> pause(std::chrono::milliseconds timeout);

private:
  using guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<guard> guards_;
  std::vector<std::thread> threads_;
};

} // namespace balance::net
