#include "core/failover.hpp"

namespace balance {

failover_walk::failover_walk(std::shared_ptr<const published_groups> groups,
                             const endpoint& client)
  : groups_(std::move(groups)), key_(client_key::of(client)) {}

std::optional<channel_grant> failover_walk::next() {
  if (granted_)
    tried_.push_back(channel_); // its connect failed
  granted_ = false;
  for (; group_ < groups_->size(); ++group_, tried_.clear()) {
    auto view = groups_->view(group_);
    if (auto lease = view->pick(key_, tried_)) {
      channel_ = lease.channel();
      granted_ = true;
      return channel_grant{view->channels()[channel_].target, std::move(lease)};
    }
  }
  return std::nullopt;
}

} // namespace balance
