// Active health checks on the io threads: every channel is connected to
// once per --check-interval (spread over the interval, with jitter), and
// with --check-send/--check-expect a probe is sent and the first bytes
// of the answer compared. Each result goes to a check_sink (the group's
// scheduler actor, which keeps the rise/fall state and publishes).
//
// No thread per check and no blocking call: each io thread keeps its
// probes in one deadline queue behind one timer, whose deadlines fall on
// ticks of a tenth of the interval (50 ms at 0.5 s), and on each tick
// runs every probe that is due. A probe is a non-blocking connect whose
// socket joins the epoll set only when the handshake did not finish
// inside connect() (on loopback it does). The connection ends with a
// reset so that the destination logs no session, and its socket is kept
// for the next check (net/check_sockets.hpp).
//
// Results go to the schedulers in batches, a message per group: at the
// end of a tick when one of them may change a channel's state (a failure,
// or one of the first --rise passes after one), else every 250 ms. A
// message per check cost a CAF worker's wake-up each and five times the
// CPU (bench/health_checks.py).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.hpp"
#include "core/failover.hpp"
#include "core/health.hpp"
#include "core/vocabulary.hpp"
#include "net/io_pool.hpp"

namespace balance::net {

/// Hears the checks' results, a batch per group at a time, on the io
/// thread that ran them (must not block: the scheduler's mailbox).
class check_sink {
public:
  virtual ~check_sink() = default;
  virtual void channels_checked(uint32_t group,
                                std::vector<check_result> results) const = 0;
};

struct check_settings {
  std::chrono::milliseconds interval{0}; ///< --check-interval
  std::chrono::milliseconds timeout{0};  ///< --check-timeout
  std::string send;                      ///< --check-send (unescaped)
  std::string expect;                    ///< --check-expect (unescaped)
  std::optional<endpoint> out_bind;      ///< -B, as clients' connects
  /// --rise: after a failure, this many passes are reported at once (they
  /// may bring a channel up); other passes wait for the next batch.
  uint32_t rise = 2;
};

class check_thread;

class health_checks {
public:
  /// `pool`, `groups` and `sink` outlive this object, which outlives the
  /// pool's threads (its probes are in their epoll sets).
  health_checks(io_pool& pool, std::shared_ptr<const published_groups> groups,
                const check_sink& sink, check_settings settings);
  ~health_checks();

  health_checks(const health_checks&) = delete;
  health_checks& operator=(const health_checks&) = delete;

  /// Starts checking every channel published now (spread over the first
  /// interval, the first at once); call once the pool runs.
  void start();
  /// Starts checking a channel created since (any thread).
  void watch(uint32_t group, uint32_t channel);

private:
  io_pool& pool_;
  std::shared_ptr<const published_groups> groups_;
  std::shared_ptr<const check_settings> settings_;
  std::vector<std::unique_ptr<check_thread>> threads_;
  std::atomic<std::size_t> next_thread_{0}; ///< channels dealt round robin
};

} // namespace balance::net
