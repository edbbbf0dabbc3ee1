// An instance's life beyond "serving": a graceful drain (`drain`, SIGQUIT)
// and an upgrade that hands the listening sockets to a new process, then
// drains. The phase is read by every thread (the control actor, the main
// loop, the upgrade), so it is a handful of atomics; the rules of which
// step may follow which live here, unit-tested.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

namespace balance {

/// Where an instance is in its life. Travels as its integer (lifecycle
/// query), so values are only ever appended.
enum class lifecycle_phase : uint32_t {
  serving = 0,   ///< accepting clients
  upgrading = 1, ///< a successor is starting; still accepting
  draining = 2,  ///< listeners closed, waiting for the last connection
};

std::string to_string(lifecycle_phase x);
bool from_integer(std::underlying_type_t<lifecycle_phase> in,
                  lifecycle_phase& out);

/// Outcome of `drain` and `upgrade` (their own code space: 3.54's `reply`
/// values keep their meaning for the old commands).
enum class lifecycle_reply : int32_t {
  ok = 0,
  already = 1,   ///< draining (or upgrading) already
  busy = 2,      ///< an upgrade is under way
  failed = 3,    ///< the successor did not start (the message says why)
  draining = 4,  ///< an instance that drains cannot be upgraded
};

std::string to_string(lifecycle_reply x);
bool from_integer(std::underlying_type_t<lifecycle_reply> in,
                  lifecycle_reply& out);

/// What `lifecycle` reports: the phase, the seconds the drain may still
/// take (0: no drain, or no deadline), and the process that took over.
struct lifecycle_status {
  lifecycle_phase phase = lifecycle_phase::serving;
  uint64_t drain_seconds_left = 0;
  int32_t successor_pid = 0;
};

/// The phase of one instance, shared by its threads.
class lifecycle {
public:
  using clock = std::chrono::steady_clock;

  /// serving -> upgrading; false in any other phase.
  bool begin_upgrade();
  /// upgrading -> serving: the successor did not come up.
  void abort_upgrade();
  /// The successor is ready and owns the control endpoint from now on.
  void hand_over(int32_t successor_pid);

  /// serving or upgrading (after hand_over) -> draining, with a deadline
  /// `timeout` from now (zero: none); false when draining already.
  bool begin_drain(std::chrono::seconds timeout);

  lifecycle_phase phase() const { return phase_.load(); }
  bool draining() const { return phase() == lifecycle_phase::draining; }
  /// A successor took over: this process no longer speaks for the
  /// instance (no sd_notify, no control file, no operator commands).
  bool handed_over() const { return successor_.load() != 0; }
  int32_t successor() const { return successor_.load(); }
  /// Whether the drain's deadline has passed (never without a deadline).
  bool drain_expired(clock::time_point now = clock::now()) const;

  lifecycle_status status(clock::time_point now = clock::now()) const;

private:
  std::atomic<lifecycle_phase> phase_{lifecycle_phase::serving};
  std::atomic<int32_t> successor_{0};
  /// clock ticks of the drain deadline; 0 = none
  std::atomic<clock::rep> deadline_{0};
};

} // namespace balance
