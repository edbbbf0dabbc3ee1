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
  if (!enabled())
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

void channel::release() const {
  load->release();
}

void channel_load::release() {
  auto& c = current;
  auto now = c.load(std::memory_order_relaxed);
  while (now > 0)
    if (c.compare_exchange_weak(now, now - 1, std::memory_order_relaxed))
      return;
}

std::optional<uint32_t> group_policy::pick(client_key client,
                                           const tried_set& tried) const {
  if (channels_.empty())
    return std::nullopt;
  auto found = type == group_type::hash ? pick_hash(client, tried)
                                        : pick_round_robin(tried);
  if (found)
    granted(*found);
  return found;
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
  // Only enabled channels take part in the ranking: disabling a channel
  // (or creating one, which starts disabled) moves no client but its own,
  // and those go to their next channel here rather than to another group.
  if (!hash_failover) {
    // Without -H the client's own channel will do or nothing: when it is
    // full or its connect failed, the client fails over to the next group.
    std::optional<uint32_t> best;
    for (uint32_t i = 0; i < channels_.size(); ++i)
      if (channels_[i].enabled()
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

void group_policy::granted(uint32_t index) const {
  channels_[index].load->total.fetch_add(1, std::memory_order_relaxed);
  cursor_->store((index + 1) % static_cast<uint32_t>(channels_.size()),
                 std::memory_order_relaxed);
}

void group_policy::on_failed(uint32_t index) {
  on_released(index);
  mark_failed(index);
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

void group_policy::enable(uint32_t index) {
  if (index >= channels_.size())
    return;
  channels_[index].state = channel_state::enabled;
  channels_[index].load->failed_off.store(false, std::memory_order_relaxed);
}

void group_policy::on_released(uint32_t index) const {
  if (index < channels_.size())
    channels_[index].release();
}

uint64_t group_policy::live() const {
  uint64_t sum = 0;
  for (auto& ch : channels_)
    sum += ch.current();
  return sum;
}

} // namespace balance
