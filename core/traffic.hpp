// Per-channel byte counters: bumped by the data path with relaxed atomics
// (no message per chunk), read by the scheduler for show/MRTG.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace balance {

struct traffic_counters {
  std::atomic<uint64_t> sent{0}; ///< client -> destination
  std::atomic<uint64_t> rcvd{0}; ///< destination -> client
};
using traffic_ptr = std::shared_ptr<traffic_counters>;

} // namespace balance
