// A channel's health as plain C++: HAProxy's rise/fall rule over check
// results, and what the operator's options make of it. The scheduler actor
// keeps one channel_health per channel and is its only writer; the data
// path only reads `state` from the published copies (a down channel is not
// picked). Pure, unit-tested.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/vocabulary.hpp"

namespace balance {

using health_clock = std::chrono::steady_clock;

/// How results become states (--rise, --fall, --check-interval, --observe).
struct health_rules {
  uint32_t rise = 2;    ///< consecutive passed checks that bring a channel up
  uint32_t fall = 3;    ///< consecutive failures that take it down
  bool active = false;  ///< --check-interval > 0: the checks bring it back
  bool observe = false; ///< --observe: clients' failed connects count

  /// Whether channels are checked at all (else they stay unchecked).
  bool checked() const { return active || observe; }
};

/// One active check's outcome, as the io thread that ran it reports it.
struct check_result {
  uint32_t channel = 0;
  bool passed = false;
  check_error why = check_error::none;
};

/// One channel's health: the state and the run of results behind it.
struct channel_health {
  health_state state = health_state::unchecked;
  uint32_t successes = 0; ///< consecutive passed active checks
  uint32_t failures = 0;  ///< consecutive failed active checks
  check_error last_error = check_error::none;
  health_clock::time_point changed{}; ///< the last change of state (or start)

  /// The state a channel starts in: up when checked (as HAProxy's do,
  /// checked at once), else unchecked.
  static channel_health initial(const health_rules& rules,
                                health_clock::time_point now);

  /// An active check's result; true when the state changed. Only a run of
  /// `fall` failures takes an up channel down and only a run of `rise`
  /// passes brings a down one up: a result against the run restarts it,
  /// so a destination flapping faster than that never changes state.
  bool on_check(bool passed, check_error why, const health_rules& rules,
                health_clock::time_point now);

  /// `consecutive` client connects to the channel failed in a row
  /// (--observe); true when that took it down.
  bool on_observed(uint32_t consecutive, check_error why,
                   const health_rules& rules, health_clock::time_point now);

  /// An operator's `enable`: without active checks nothing else could
  /// bring an observed-down channel back, so it comes up; with them, only
  /// passing checks do (true when the state changed).
  bool on_enable(const health_rules& rules, health_clock::time_point now);

  /// Down: not picked for clients.
  bool down() const { return state == health_state::down; }

private:
  void become(health_state next, health_clock::time_point now);
};

} // namespace balance
