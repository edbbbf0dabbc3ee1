// Every live connection of the instance, so that `kill` and a signal can
// close them and wait until they are gone. Connections enter and leave it
// themselves (constructor, destructor), on their io threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>
#include <mutex>

namespace balance::net {

class connection;

class connection_registry {
public:
  void add(connection* c);
  void remove(connection* c);
  /// Posts close() to every live connection (each on its own io thread);
  /// returns how many.
  std::size_t close_all();
  /// Posts reset() to every live connection that holds a slot of
  /// `channel` in `group` (--on-down shutdown).
  void reset_channel(uint32_t group, uint32_t channel);
  /// As close_all, but every connection is cut: its peers get a reset
  /// (a drain that ran out of time).
  std::size_t cut_all();
  std::size_t size();
  /// Waits until no connection is left or `deadline` passes; true when
  /// none is left.
  bool wait_empty(std::chrono::steady_clock::time_point deadline);

private:
  std::vector<std::shared_ptr<connection>> live();

  std::mutex mtx_;
  std::condition_variable emptied_;
  connection* head_ = nullptr; ///< an intrusive list through the connections
  std::size_t count_ = 0;
};

} // namespace balance::net
