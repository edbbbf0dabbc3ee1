// The scheduling rules of one channel group, as plain C++ (no actors, no
// sockets): which channel a client gets, round robin or rendezvous hash,
// maxc, autodisable, and the per-channel counters.
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

  /// Gives a slot back (never below zero).
  void release();
};

struct channel {
  endpoint target;
  uint32_t maxc = 0; ///< 0 = unlimited
  channel_state state = channel_state::enabled;
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
  bool usable() const { return enabled() && (maxc == 0 || current() < maxc); }
  /// Takes a slot if enabled and under maxc (atomically); false if not.
  bool try_acquire() const;
  void release() const;
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

  std::vector<channel>& channels() { return channels_; }
  const std::vector<channel>& channels() const { return channels_; }
  uint32_t cursor() const { return cursor_->load(std::memory_order_relaxed); }

  /// Adds a channel (enabled unless told otherwise); returns its number.
  uint32_t add(const endpoint& target, uint32_t maxc,
               channel_state state = channel_state::enabled);

  /// Chooses a channel for `client` not in `tried` and grants it (c and
  /// totalc go up, the rr cursor moves past it as 3.54 does); nullopt when
  /// this group has nothing for the client, so the session tries the next.
  /// Safe on a shared const copy from any thread.
  std::optional<uint32_t> pick(client_key client, const tried_set& tried) const;

  /// A granted connect failed: release the slot, autodisable under -a.
  void on_failed(uint32_t index);

  /// Autodisable under -a (the owner's half of on_failed); true if the
  /// channel was enabled and is now disabled.
  bool mark_failed(uint32_t index);

  /// Enables a channel (an operator's `enable`), clearing a failed connect.
  void enable(uint32_t index);

  /// A granted connection ended: release its slot (any copy, any thread).
  void on_released(uint32_t index) const;

  /// The rendezvous score of channel `index` for `client` (higher wins).
  uint64_t score(uint32_t index, client_key client) const;

  /// Channels in descending score order for `client`.
  std::vector<uint32_t> rank(client_key client) const;

  /// Sum of c over the group (tests check it against live sessions).
  uint64_t live() const;

private:
  std::optional<uint32_t> pick_round_robin(const tried_set& tried) const;
  std::optional<uint32_t> pick_hash(client_key client,
                                    const tried_set& tried) const;
  void granted(uint32_t index) const;

  std::vector<channel> channels_;
  std::shared_ptr<std::atomic<uint32_t>> cursor_ =
    std::make_shared<std::atomic<uint32_t>>(0);
};

} // namespace balance
