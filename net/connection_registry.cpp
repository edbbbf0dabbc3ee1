#include "net/connection_registry.hpp"

#include <asio/post.hpp>

#include "net/connection.hpp"

namespace balance::net {

void connection_registry::add(connection* c) {
  std::lock_guard<std::mutex> lock{mtx_};
  c->next_ = head_;
  if (head_)
    head_->prev_ = c;
  head_ = c;
  ++count_;
}

void connection_registry::remove(connection* c) {
  std::lock_guard<std::mutex> lock{mtx_};
  if (c->prev_)
    c->prev_->next_ = c->next_;
  else
    head_ = c->next_;
  if (c->next_)
    c->next_->prev_ = c->prev_;
  if (--count_ == 0)
    emptied_.notify_all();
}

std::vector<connection_ptr> connection_registry::live() {
  std::vector<connection_ptr> all;
  std::lock_guard<std::mutex> lock{mtx_};
  for (auto* c = head_; c != nullptr; c = c->next_)
    if (auto sp = c->weak_from_this().lock())
      all.push_back(std::move(sp));
  return all;
}

std::size_t connection_registry::close_all() {
  auto all = live();
  for (auto& c : all)
    asio::post(c->executor(), [c] { c->close(); });
  return all.size();
}

void connection_registry::reset_channel(uint32_t group, uint32_t channel) {
  // The lease is the io thread's to read: each connection checks there.
  for (auto& c : live())
    asio::post(c->executor(), [c, group, channel] {
      if (c->holds(group, channel))
        c->reset();
    });
}

std::size_t connection_registry::cut_all() {
  auto all = live();
  for (auto& c : all)
    asio::post(c->executor(), [c] { c->reset(); });
  return all.size();
}

std::size_t connection_registry::size() {
  std::lock_guard<std::mutex> lock{mtx_};
  return count_;
}

bool connection_registry::wait_empty(
  std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock{mtx_};
  return emptied_.wait_until(lock, deadline, [this] { return count_ == 0; });
}

} // namespace balance::net
