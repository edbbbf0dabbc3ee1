#include "core/failover.hpp"

namespace balance {

failover_walk::failover_walk(std::shared_ptr<const published_groups> groups,
                             const endpoint& client)
  : groups_(std::move(groups)), key_(client_key::of(client)) {}

std::optional<channel_grant> failover_walk::next() {
  for (; group_ < groups_->size(); ++group_, tried_.clear()) {
    auto view = groups_->view(group_);
    if (auto lease = view->pick(key_, tried_)) {
      tried_.push_back(lease.channel());
      return channel_grant{view->channels()[lease.channel()].target,
                           std::move(lease)};
    }
  }
  return std::nullopt;
}

} // namespace balance
