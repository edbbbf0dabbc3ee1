// One channel's active check, run again and again on one io thread: a
// non-blocking connect, optionally a probe sent and the first bytes of the
// answer compared, under a deadline. health_checks.cpp schedules it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <asio/io_context.hpp>

#include "core/endpoint.hpp"
#include "core/vocabulary.hpp"
#include "net/check_sockets.hpp"
#include "net/health_checks.hpp"
#include "net/socket_watch.hpp"

namespace balance::net {

/// How a check ended: `skipped` when this host failed (out of descriptors
/// or ports), which says nothing of the channel and counts for nothing.
enum class check_outcome { passed, failed, skipped };

class check_probe {
public:
  using clock = std::chrono::steady_clock;
  /// Runs on the io thread when a check ends (`why` when it failed).
  using finished =
    std::function<void(check_probe&, check_outcome, check_error why)>;

  /// `sockets`: the io thread's, where each check takes its socket and
  /// gives it back.
  check_probe(asio::io_context& ctx, const check_settings& settings,
              check_sockets& sockets, uint32_t group, uint32_t channel,
              finished on_finished);

  check_probe(const check_probe&) = delete;
  check_probe& operator=(const check_probe&) = delete;

  uint32_t group() const { return group_; }
  uint32_t channel() const { return channel_; }
  bool running() const { return phase_ != phase::idle; }

  /// Starts a check of `target`. It may end before this returns (on
  /// loopback a plain connect check does).
  void do_check(const endpoint& target);
  /// The deadline passed while running: ends the check as timed out.
  void on_deadline();

  /// When the running check must end; when the next is due once idle.
  clock::time_point due;
  /// When the last check started.
  clock::time_point started;
  /// Passes still to report at once after a failure (they may bring the
  /// channel up).
  uint32_t urgent_passes = 0;
  /// Counts scheduled deadlines, so a stale one in the queue is ignored.
  uint64_t generation = 0;

private:
  enum class phase { idle, connecting, sending, expecting };

  static void on_events(void* self, socket_watch& watch);
  void on_connected();
  void do_send();
  void do_expect();
  /// Puts the socket in the epoll set (once per check); false if that failed
  /// (the check has ended).
  bool ensure_watched();
  void finish(check_outcome outcome, check_error why = check_error::none);
  /// The socket of the running check, wherever it is.
  int sock() const { return watch_.is_open() ? watch_.fd() : fd_; }

  asio::io_context& ctx_;
  const check_settings& settings_;
  check_sockets& sockets_;
  uint32_t group_;
  uint32_t channel_;
  finished on_finished_;
  phase phase_ = phase::idle;
  int fd_ = -1;          ///< while running and not yet in the epoll set
  int family_ = 0;       ///< fd_'s address family
  socket_watch watch_;   ///< while running in the epoll set
  std::size_t sent_ = 0; ///< bytes of --check-send written
  std::string received_; ///< first bytes of the answer (--check-expect)
};

} // namespace balance::net
