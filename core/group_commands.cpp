#include "core/group_commands.hpp"

#include "core/limits.hpp"

namespace balance {

namespace {

// The destination of create/assign: the control actor has already turned
// a host name into its numeric address.
std::optional<endpoint> command_target(const control_command& cmd) {
  auto addr = parse_numeric_address(cmd.host);
  auto port = parse_port(cmd.port);
  if (!addr || !port)
    return std::nullopt;
  addr->port = *port;
  return addr;
}

} // namespace

reply apply_command(group_policy& policy, const control_command& cmd) {
  auto& chans = policy.channels();
  auto what = cmd.what;
  switch (what) {
    case verb::set_hash: policy.type = group_type::hash; return reply::ok;
    case verb::set_rr: policy.type = group_type::round_robin; return reply::ok;
    case verb::create: {
      if (chans.size() >= max_channels)
        return reply::no_slots;
      auto target = command_target(cmd);
      if (!target)
        return reply::invalid_address;
      // 3.54 creates channels disabled; the operator enables them.
      policy.add(*target, 0, channel_state::disabled);
      return reply::ok;
    }
    default: break;
  }
  if (cmd.channel >= chans.size())
    return what == verb::assign || what == verb::maxc ? reply::unknown_channel
                                                      : reply::no_such_channel;
  auto& ch = chans[cmd.channel];
  switch (what) {
    case verb::enable:
      return policy.enable(cmd.channel) ? reply::ok : reply::already;
    case verb::disable:
      return policy.disable(cmd.channel) ? reply::ok : reply::already;
    case verb::reset:
      ch.load->total.store(0, std::memory_order_relaxed);
      ch.traffic->sent.store(0, std::memory_order_relaxed);
      ch.traffic->rcvd.store(0, std::memory_order_relaxed);
      return reply::ok;
    case verb::maxc: ch.maxc = cmd.value; return reply::ok;
    case verb::assign: {
      if (ch.enabled())
        return reply::must_be_disabled;
      auto target = command_target(cmd);
      if (!target)
        return reply::invalid_address;
      ch.target = *target;
      // The checks' run so far was of the old address.
      ch.health.successes = 0;
      ch.health.failures = 0;
      ch.load->observed_failures.store(0, std::memory_order_relaxed);
      return reply::ok;
    }
    default: return reply::ok;
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
    row.type = policy.type;
    row.state = ch.state == channel_state::enabled && !ch.enabled()
                  ? channel_state::auto_disabled // failed, not yet published
                  : ch.state;
    row.address = ch.target.address_text();
    row.port = ch.target.port;
    row.current = ch.current();
    row.total = ch.total();
    row.maxc = ch.maxc;
    row.sent = ch.traffic->sent.load(std::memory_order_relaxed);
    row.rcvd = ch.traffic->rcvd.load(std::memory_order_relaxed);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<health_row> health_rows(const group_policy& policy,
                                    uint32_t group,
                                    health_clock::time_point now) {
  std::vector<health_row> rows;
  uint32_t index = 0;
  for (auto& ch : policy.channels()) {
    health_row row;
    row.group = group;
    row.index = index++;
    row.state = ch.health.state;
    row.successes = ch.health.successes;
    row.failures = ch.health.failures;
    row.last_error = ch.health.last_error;
    row.seconds_since_change = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - ch.health.changed)
        .count());
    rows.push_back(row);
  }
  return rows;
}

} // namespace balance
