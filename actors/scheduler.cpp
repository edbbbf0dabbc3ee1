#include "actors/scheduler.hpp"

#include "actors/limits.hpp"
#include "net/log.hpp"

namespace balance {

reply apply_command(group_policy& policy, const control_command& cmd) {
  auto& chans = policy.channels();
  auto what = static_cast<verb>(cmd.what);
  switch (what) {
    case verb::set_hash:
      policy.type = group_type::hash;
      return reply::ok;
    case verb::set_rr:
      policy.type = group_type::round_robin;
      return reply::ok;
    case verb::create: {
      if (chans.size() >= max_channels)
        return reply::no_slots;
      auto addr = net::parse_numeric_address(cmd.host);
      auto port = net::parse_port(cmd.port);
      if (!addr || !port)
        return reply::invalid_address;
      addr->port = *port;
      // 3.54 creates channels disabled; the operator enables them.
      policy.add(*addr, 0, channel_state::disabled);
      return reply::ok;
    }
    default:
      break;
  }
  if (cmd.channel >= chans.size())
    return what == verb::assign || what == verb::maxc ? reply::unknown_channel
                                                      : reply::no_such_channel;
  auto& ch = chans[cmd.channel];
  switch (what) {
    case verb::enable:
      if (ch.enabled())
        return reply::already;
      ch.state = channel_state::enabled;
      return reply::ok;
    case verb::disable:
      // An operator's disable is "hard", even over an automatic one.
      if (ch.state == channel_state::disabled)
        return reply::already;
      ch.state = channel_state::disabled;
      return reply::ok;
    case verb::reset:
      ch.total = 0;
      ch.traffic->sent.store(0, std::memory_order_relaxed);
      ch.traffic->rcvd.store(0, std::memory_order_relaxed);
      return reply::ok;
    case verb::maxc:
      ch.maxc = cmd.value;
      return reply::ok;
    case verb::assign: {
      if (ch.enabled())
        return reply::must_be_disabled;
      auto addr = net::parse_numeric_address(cmd.host);
      auto port = net::parse_port(cmd.port);
      if (!addr || !port)
        return reply::invalid_address;
      addr->port = *port;
      ch.target = *addr;
      return reply::ok;
    }
    default:
      return reply::ok;
  }
}

std::vector<channel_status> group_rows(const group_policy& policy,
                                       uint32_t group) {
  std::vector<channel_status> rows;
  uint32_t index = 0;
  for (auto& ch : policy.channels()) {
    channel_status row;
    row.group = group;
    row.index = index++;
    row.type = static_cast<uint8_t>(policy.type);
    row.state = static_cast<uint8_t>(ch.state);
    row.address = ch.target.address_text();
    row.port = ch.target.port;
    row.current = ch.current;
    row.total = ch.total;
    row.maxc = ch.maxc;
    row.sent = ch.traffic->sent.load(std::memory_order_relaxed);
    row.rcvd = ch.traffic->rcvd.load(std::memory_order_relaxed);
    rows.push_back(std::move(row));
  }
  return rows;
}

scheduler_actor::behavior_type scheduler(scheduler_pointer self,
                                         uint32_t group, group_policy policy) {
  self->state.group = group;
  self->state.policy = std::move(policy);
  return {
    [=](pick_atom, uint64_t key, const tried_set& tried) -> grant {
      auto& pol = self->state.policy;
      grant g;
      if (auto index = pol.pick(client_key{key}, tried)) {
        auto& ch = pol.channels()[*index];
        g.ok = true;
        g.channel = *index;
        g.target = ch.target;
        g.traffic = ch.traffic;
      }
      return g;
    },
    [=](failed_atom, uint32_t index) {
      auto& pol = self->state.policy;
      bool was_enabled = index < pol.channels().size()
                         && pol.channels()[index].enabled();
      pol.on_failed(index);
      if (was_enabled && !pol.channels()[index].enabled())
        log::notice("channel " + std::to_string(index) + " of group "
                    + std::to_string(self->state.group) + " ("
                    + pol.channels()[index].target.to_string()
                    + ") autodisabled after a failed connect");
    },
    [=](release_atom, uint32_t index) {
      self->state.policy.on_released(index);
    },
    [=](show_atom) {
      return group_rows(self->state.policy, self->state.group);
    },
    [=](command_atom, const control_command& cmd) {
      return static_cast<int32_t>(apply_command(self->state.policy, cmd));
    },
  };
}

} // namespace balance
