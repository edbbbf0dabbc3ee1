#include "core/group_policy.hpp"

#include <algorithm>

namespace balance {

namespace {

// splitmix64's finaliser: a cheap, well-mixed 64-bit permutation.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hash_bytes(const uint8_t* p, std::size_t n, uint64_t seed) {
  uint64_t h = seed;
  for (std::size_t i = 0; i < n; ++i)
    h = mix64(h ^ p[i]);
  return h;
}

bool contains(const tried_set& tried, uint32_t index) {
  return std::find(tried.begin(), tried.end(), index) != tried.end();
}

} // namespace

client_key client_key::of(const endpoint& client) {
  // The port is not part of the identity: a client keeps its channel
  // across connections. The family tag keeps 1.2.3.4 and ::102:304 apart.
  return {
    hash_bytes(client.bytes.data(), client.address_size(), client.v6 ? 6 : 4)};
}

uint32_t group_policy::add(const endpoint& target, uint32_t maxc,
                           channel_state state) {
  channel ch;
  ch.target = target;
  ch.maxc = maxc;
  ch.state = state;
  ch.health = channel_health::initial(health, health_clock::now());
  channels_.push_back(std::move(ch));
  return static_cast<uint32_t>(channels_.size() - 1);
}

uint64_t group_policy::score(uint32_t index, client_key client) const {
  // The channel's identity is its number: reassigning an address keeps its
  // clients, adding a channel moves only the clients the new one wins.
  return mix64(client.hash ^ mix64(0x42a1ce5ULL + index));
}

std::vector<uint32_t> group_policy::rank(client_key client) const {
  std::vector<uint32_t> order(channels_.size());
  for (uint32_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return score(a, client) > score(b, client);
  });
  return order;
}

bool channel::try_acquire() const {
  if (!in_rotation())
    return false;
  auto& c = load->current;
  if (maxc == 0) {
    c.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  auto now = c.load(std::memory_order_relaxed);
  while (now < maxc)
    if (c.compare_exchange_weak(now, now + 1, std::memory_order_relaxed))
      return true;
  return false;
}

void channel_load::release() {
  auto& c = current;
  auto now = c.load(std::memory_order_relaxed);
  while (now > 0)
    if (c.compare_exchange_weak(now, now - 1, std::memory_order_relaxed))
      return;
}

void group_policy::set_owner(const group_owner* owner, uint32_t group) {
  owner_ = owner;
  group_ = group;
}

slot_lease group_policy::pick(client_key client, const tried_set& tried) const {
  if (channels_.empty())
    return {};
  auto found = type == group_type::hash ? pick_hash(client, tried)
                                        : pick_round_robin(tried);
  return found ? granted(*found) : slot_lease{};
}

std::optional<uint32_t>
group_policy::pick_round_robin(const tried_set& tried) const {
  auto n = static_cast<uint32_t>(channels_.size());
  auto start = cursor_->load(std::memory_order_relaxed) % n;
  for (uint32_t k = 0; k < n; ++k) {
    auto i = (start + k) % n;
    if (!contains(tried, i) && channels_[i].try_acquire())
      return i;
  }
  return std::nullopt;
}

std::optional<uint32_t> group_policy::pick_hash(client_key client,
                                                const tried_set& tried) const {
  // Only channels in rotation take part in the ranking: disabling a
  // channel (or creating one, which starts disabled) or its going down
  // moves no client but its own, and those go to their next channel here
  // rather than to another group.
  if (!hash_failover) {
    // Without -H the client's own channel will do or nothing: when it is
    // full or its connect failed, the client fails over to the next group.
    std::optional<uint32_t> best;
    for (uint32_t i = 0; i < channels_.size(); ++i)
      if (channels_[i].in_rotation()
          && (!best || score(i, client) > score(*best, client)))
        best = i;
    if (best && !contains(tried, *best) && channels_[*best].try_acquire())
      return best;
    return std::nullopt;
  }
  for (auto i : rank(client))
    if (!contains(tried, i) && channels_[i].try_acquire())
      return i;
  return std::nullopt;
}

slot_lease group_policy::granted(uint32_t index) const {
  auto& ch = channels_[index];
  ch.load->total.fetch_add(1, std::memory_order_relaxed);
  cursor_->store((index + 1) % static_cast<uint32_t>(channels_.size()),
                 std::memory_order_relaxed);
  slot_lease lease;
  lease.load_ = ch.load;
  lease.traffic_ = ch.traffic;
  lease.owner_ = owner_;
  lease.autodisable_ = autodisable;
  lease.observe_fall_ = health.observe ? health.fall : 0;
  lease.group_ = group_;
  lease.channel_ = index;
  return lease;
}

// -- a slot's way back, and autodisable ---------------------------------------

slot_lease::slot_lease(slot_lease&& other) noexcept
  : load_(std::move(other.load_)), traffic_(std::move(other.traffic_)),
    owner_(other.owner_), autodisable_(other.autodisable_),
    observe_fall_(other.observe_fall_), group_(other.group_), channel_(other.channel_) {}

slot_lease& slot_lease::operator=(slot_lease&& other) noexcept {
  if (this != &other) {
    release();
    load_ = std::move(other.load_);
    traffic_ = std::move(other.traffic_);
    owner_ = other.owner_;
    autodisable_ = other.autodisable_;
    observe_fall_ = other.observe_fall_;
    group_ = other.group_;
    channel_ = other.channel_;
  }
  return *this;
}

void slot_lease::release() {
  if (!load_)
    return;
  load_->release();
  load_.reset();
  traffic_.reset();
}

void slot_lease::fail(check_error why) {
  if (!load_)
    return;
  if (observe_fall_ > 0) {
    auto failures =
      load_->observed_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (failures >= observe_fall_ && owner_)
      owner_->channel_observed(group_, channel_, failures, why);
  }
  // The shared flag takes the channel out of every published copy now;
  // the owner's mark_failed below makes it its configuration, and publishes.
  if (autodisable_) {
    load_->failed_off.store(true, std::memory_order_relaxed);
    if (owner_)
      owner_->channel_failed(group_, channel_);
  }
  release();
}

void slot_lease::connected() const {
  // A load first: the common case (no failure in the run) writes nothing
  // to the line every client of the channel shares.
  if (observe_fall_ > 0 && load_
      && load_->observed_failures.load(std::memory_order_relaxed) != 0)
    load_->observed_failures.store(0, std::memory_order_relaxed);
}

bool group_policy::mark_failed(uint32_t index) {
  if (index >= channels_.size())
    return false;
  auto& ch = channels_[index];
  if (!autodisable || ch.state != channel_state::enabled)
    return false;
  ch.load->failed_off.store(true, std::memory_order_relaxed);
  ch.state = channel_state::auto_disabled;
  return true;
}

// -- operators ----------------------------------------------------------------

bool group_policy::enable(uint32_t index) {
  if (index >= channels_.size())
    return false;
  auto& ch = channels_[index];
  bool revived = ch.health.on_enable(health, health_clock::now());
  if (revived)
    ch.load->observed_failures.store(0, std::memory_order_relaxed);
  if (ch.enabled())
    return revived;
  ch.state = channel_state::enabled;
  ch.load->failed_off.store(false, std::memory_order_relaxed);
  return true;
}

bool group_policy::disable(uint32_t index) {
  if (index >= channels_.size()
      || channels_[index].state == channel_state::disabled)
    return false;
  channels_[index].state = channel_state::disabled;
  return true;
}

// -- health -------------------------------------------------------------------

bool group_policy::on_check(uint32_t index, bool passed, check_error why,
                            health_clock::time_point now) {
  if (index >= channels_.size())
    return false;
  auto& ch = channels_[index];
  if (!ch.health.on_check(passed, why, health, now))
    return false;
  // Up again or down: either way the clients' run of failures starts over.
  ch.load->observed_failures.store(0, std::memory_order_relaxed);
  return true;
}

bool group_policy::on_observed(uint32_t index, uint32_t consecutive,
                               check_error why, health_clock::time_point now) {
  if (index >= channels_.size())
    return false;
  auto& ch = channels_[index];
  if (!ch.health.on_observed(consecutive, why, health, now))
    return false;
  ch.load->observed_failures.store(0, std::memory_order_relaxed);
  return true;
}

} // namespace balance
