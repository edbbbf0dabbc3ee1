// The scheduling rules of one channel group, as plain C++ (no actors, no
// sockets): which channel a client gets, round robin or rendezvous hash,
// maxc, the slot lease a grant hands out, autodisable, operator enable and
// disable, and the per-channel counters.
//
// The configuration (channels, states, maxc, type) has one writer, the
// group's scheduler actor, which publishes immutable copies; the data path
// picks from the latest copy on its own io thread. What changes per
// connection (c, totalc, bytes, the rr cursor) are atomics shared by all
// copies, so a pick needs no message and maxc is still exact (c is taken
// with compare-and-swap against maxc).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/endpoint.hpp"
#include "core/health.hpp"
#include "core/traffic.hpp"
#include "core/vocabulary.hpp"

namespace balance {

/// The per-connection counters of a channel, shared by every copy.
struct channel_load {
  std::atomic<uint32_t> current{0}; ///< c: granted and not yet released
  std::atomic<uint64_t> total{0};   ///< totalc: grants = attempts (3.54)
  /// Set by a failed connect under -a, at once, so that no other client
  /// picks the channel before its scheduler has published the disable.
  std::atomic<bool> failed_off{false};
  /// Clients' connects that failed in a row (--observe): the data path
  /// counts them and clears them on a success, without a message; the
  /// owner hears once they reach --fall.
  std::atomic<uint32_t> observed_failures{0};

  /// Gives a slot back (never below zero).
  void release();
};

struct channel {
  endpoint target;
  uint32_t maxc = 0; ///< 0 = unlimited
  channel_state state = channel_state::enabled;
  channel_health health; ///< written by the owner only, as state is
  std::shared_ptr<channel_load> load = std::make_shared<channel_load>();
  traffic_ptr traffic = std::make_shared<traffic_counters>();

  uint32_t current() const {
    return load->current.load(std::memory_order_relaxed);
  }
  uint64_t total() const { return load->total.load(std::memory_order_relaxed); }
  bool enabled() const {
    return state == channel_state::enabled
           && !load->failed_off.load(std::memory_order_relaxed);
  }
  /// Enabled and not down: a client may get it.
  bool in_rotation() const { return enabled() && !health.down(); }
  bool usable() const {
    return in_rotation() && (maxc == 0 || current() < maxc);
  }
  /// Takes a slot if in rotation and under maxc (atomically); false if not.
  bool try_acquire() const;
};

/// Hears of a connect that failed through its channel's fault under -a:
/// the group's owner (its scheduler actor), which then takes the channel
/// out of its configuration (mark_failed) and publishes that.
class group_owner {
public:
  virtual ~group_owner() = default;
  /// Called on the data path's thread; must not block.
  virtual void channel_failed(uint32_t group, uint32_t channel) const = 0;
  /// Under --observe: `consecutive` clients' connects to the channel
  /// failed in a row (at least --fall of them), the last one for `why`.
  virtual void channel_observed(uint32_t group, uint32_t channel,
                                uint32_t consecutive, check_error why) const = 0;
};

/// A granted channel slot, given back exactly once: by release(), by
/// fail(), or when the lease is destroyed, so that no path can leak one.
/// Also lends its holder the channel's byte counters.
class slot_lease {
public:
  slot_lease() = default;
  slot_lease(slot_lease&& other) noexcept;
  /// Gives back the slot this lease held, if any, then takes `other`'s.
  slot_lease& operator=(slot_lease&& other) noexcept;
  ~slot_lease() { release(); }

  /// Whether the lease still holds its slot.
  explicit operator bool() const { return load_ != nullptr; }
  uint32_t group() const { return group_; }
  uint32_t channel() const { return channel_; }
  /// The channel's byte counters (null once the slot is given back).
  const traffic_ptr& traffic() const { return traffic_; }

  /// The connection ended, or its connect failed through no fault of the
  /// channel's: the slot goes back.
  void release();
  /// The connect failed through the channel's fault (`why`): the slot
  /// goes back and, under -a, the channel is out of every copy at once and
  /// the owner hears of it (group_policy.cpp, beside mark_failed); under
  /// --observe the failure counts.
  void fail(check_error why = check_error::failed);
  /// The connect succeeded: under --observe that ends a run of failures.
  void connected() const;

private:
  friend class group_policy;

  std::shared_ptr<channel_load> load_;
  traffic_ptr traffic_;
  const group_owner* owner_ = nullptr;
  bool autodisable_ = false;
  uint32_t observe_fall_ = 0; ///< --fall under --observe, else 0
  uint32_t group_ = 0;
  uint32_t channel_ = 0;
};

/// The identity hashed for a client: its address bytes (v4-mapped folded).
struct client_key {
  uint64_t hash = 0;
  static client_key of(const endpoint& client);
};

/// Channels a session already tried in this group (failed connects).
using tried_set = std::vector<uint32_t>;

class group_policy {
public:
  group_type type = group_type::round_robin;
  bool hash_failover = false; ///< -H
  bool autodisable = false;   ///< -a
  health_rules health;        ///< --rise, --fall, checks, --observe

  std::vector<channel>& channels() { return channels_; }
  const std::vector<channel>& channels() const { return channels_; }
  uint32_t cursor() const { return cursor_->load(std::memory_order_relaxed); }
  /// Where round robin goes on (an upgrade carries it to the new process).
  void set_cursor(uint32_t next) {
    cursor_->store(next, std::memory_order_relaxed);
  }

  /// Which group this is and who owns it (hears of failed connects under
  /// -a); copies keep both. Without an owner nobody is told.
  void set_owner(const group_owner* owner, uint32_t group);

  /// Adds a channel (enabled unless told otherwise, its health as the
  /// rules start one); returns its number.
  uint32_t add(const endpoint& target, uint32_t maxc,
               channel_state state = channel_state::enabled);

  /// Chooses a channel for `client` not in `tried` and grants it: c and
  /// totalc go up, the rr cursor moves past it as 3.54 does, and the lease
  /// gives the slot back. An empty lease when this group has nothing for
  /// the client (the session tries the next group). Safe on a shared const
  /// copy from any thread.
  slot_lease pick(client_key client, const tried_set& tried) const;

  /// Autodisable under -a (the owner's half of slot_lease::fail); true if
  /// the channel was enabled and is now disabled.
  bool mark_failed(uint32_t index);

  /// An operator's `enable`, which also clears a failed connect (and,
  /// without active checks, an observed down); false if it changed nothing
  /// (or there is no such channel).
  bool enable(uint32_t index);

  /// An active check's result for channel `index`; true when its health
  /// changed (the owner publishes and logs).
  bool on_check(uint32_t index, bool passed, check_error why,
                health_clock::time_point now);
  /// --observe: clients' connects failed in a row; true when that took
  /// the channel down.
  bool on_observed(uint32_t index, uint32_t consecutive, check_error why,
                   health_clock::time_point now);

  /// An operator's `disable`: "hard", even over an automatic one; false if
  /// an operator had disabled it already (or there is no such channel).
  bool disable(uint32_t index);

  /// The rendezvous score of channel `index` for `client` (higher wins).
  uint64_t score(uint32_t index, client_key client) const;

  /// Channels in descending score order for `client`.
  std::vector<uint32_t> rank(client_key client) const;

private:
  std::optional<uint32_t> pick_round_robin(const tried_set& tried) const;
  std::optional<uint32_t> pick_hash(client_key client,
                                    const tried_set& tried) const;
  slot_lease granted(uint32_t index) const;

  std::vector<channel> channels_;
  std::shared_ptr<std::atomic<uint32_t>> cursor_ =
    std::make_shared<std::atomic<uint32_t>>(0);
  const group_owner* owner_ = nullptr;
  uint32_t group_ = 0;
};

} // namespace balance
