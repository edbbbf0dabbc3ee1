#include "cli/format.hpp"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <algorithm>

namespace balance::cli {

std::string printf_string(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return std::string(buf,
                     n < 0 ? 0 : std::min<std::size_t>(n, sizeof(buf) - 1));
}

namespace {

const channel_status* find(const snapshot& snap, int64_t group,
                           int64_t channel) {
  for (auto& ch : snap.channels)
    if (ch.group == group && ch.index == channel)
      return &ch;
  return nullptr;
}

// 3.54's check, fixed: the requested group must exist and the channel in
// that group (3.54 was off by one and looked at the shell's current group).
const char* mrtg_check(const snapshot& snap, int64_t group, int64_t channel) {
  if (group < 0 || group >= static_cast<int64_t>(snap.max_groups))
    return "unknown group\n";
  if (!find(snap, group, channel))
    return "unknown channel\n";
  return nullptr;
}

} // namespace

bool is_enabled(const channel_status& ch) {
  return ch.state == channel_state::enabled;
}

const char* show_name(group_type type) {
  switch (type) {
    case group_type::round_robin: return "RR";
    case group_type::hash: return "Hash";
  }
  return "RR";
}

std::string format_show(const snapshot& snap) {
  std::string out = printf_string(
    "%3s %4s %2s %3s %16s %5s %4s %11s %4s %11s %11s\n", "GRP", "Type", "#",
    "S", "ip-address", "port", "c", "totalc", "maxc", "sent", "rcvd");
  for (auto& ch : snap.channels)
    out += printf_string(
      "%3d %4s %2d %3s %16s %5d %4d %11u %4d %11llu %11llu\n",
      static_cast<int>(ch.group), show_name(ch.type),
      static_cast<int>(ch.index), is_enabled(ch) ? "ENA" : "dis",
      ch.address.c_str(), static_cast<int>(ch.port),
      static_cast<int>(ch.current), static_cast<unsigned>(ch.total),
      static_cast<int>(ch.maxc), static_cast<unsigned long long>(ch.sent),
      static_cast<unsigned long long>(ch.rcvd));
  return out;
}

std::string format_version(const snapshot& snap) {
  return "  This is balance " + snap.version
         + "\n  MAXGROUPS=" + std::to_string(snap.max_groups)
         + "\n  MAXCHANNELS=" + std::to_string(snap.max_channels) + "\n";
}

std::string format_mrtg_bytes(const snapshot& snap, int64_t group,
                              int64_t channel) {
  if (auto* err = mrtg_check(snap, group, channel))
    return err;
  auto* ch = find(snap, group, channel);
  return std::to_string(ch->rcvd) + "\n" + std::to_string(ch->sent)
         + "\nUNKNOWN\ngroup " + std::to_string(group) + " channel "
         + std::to_string(channel) + "\n";
}

std::string format_mrtg_conns(const snapshot& snap, int64_t group,
                              int64_t channel) {
  if (auto* err = mrtg_check(snap, group, channel))
    return err;
  auto* ch = find(snap, group, channel);
  return std::to_string(ch->total) + "\nUNKNOWN\nUNKNOWN\ngroup "
         + std::to_string(group) + " channel " + std::to_string(channel) + "\n";
}

std::string format_help() {
  return "available commands:\n"
         "  create <host> <port>           creates a channel in the current group\n"
         "  assign <channel> <host> <port> reassigns a channel in the current group\n"
         "  disable <channel>              disables specified channel in current group\n"
         "  enable <channel>               enables channel in current group\n"
         "  group <group>                  changes current group to <group>\n"
         "  hash                           sets distribution scheme of current group to Hash\n"
         "  help                           prints this message\n"
         "  kill                           kills master process and quits interactive mode\n"
         "  maxc <channel> <maxc>          specifies new maxc for channel of current group\n"
         "  mrtg-bytes <grp> <ch>          print bytes in/out in MRTG format\n"
         "  mrtg-conns <grp> <ch>          print total connections in MRTG format\n"
         "  quit                           quit interactive mode\n"
         "  reset <channel>                reset all counters of channel in current group\n"
         "  rr                             sets distribution scheme of current group to Round Robin\n"
         "  show                           show all channels in all groups\n"
         "  show json                      the same as JSON\n"
         "  version                        show version id\n"
         "  metrics                        counters in Prometheus text format\n"
         "  health                         health checks of every channel\n"
         "  drain                          stop accepting, exit when connections are done\n"
         "  upgrade [path]                 hand over to a new binary, then drain\n";
}

std::string format_banner(const std::string& version, int pid) {
  return "\nbalance " + version + " interactive command shell\n"
         + "PID of master process is " + std::to_string(pid) + "\n\n";
}

std::string format_reply(const command& cmd, int64_t group, reply code) {
  auto n = std::to_string(cmd.first);
  switch (code) {
    case reply::no_such_channel: return "no such channel " + n + "\n";
    case reply::unknown_channel: return "unknown channel\n";
    case reply::must_be_disabled:
      return "channel must be disabled to assign new address\n";
    case reply::invalid_address: return "invalid address\n";
    case reply::unknown_group: return "unknown group\n";
    case reply::no_slots: return "no channel slots available\n";
    default: break;
  }
  bool already = code == reply::already;
  switch (cmd.kind) {
    case command_kind::disable:
      return "channel " + n + (already ? " already disabled\n" : " disabled\n");
    case command_kind::enable:
      return "channel " + n + (already ? " already enabled\n" : " enabled\n");
    case command_kind::reset: return "channel " + n + " counters reset\n";
    case command_kind::create: return "channel created\n";
    case command_kind::assign: return "channel reassigned\n";
    case command_kind::maxc:
      return "maxc of channel " + n + " changed to "
             + std::to_string(cmd.second) + "\n";
    case command_kind::hash:
      return "group " + std::to_string(group) + " set to hash\n";
    case command_kind::rr:
      return "group " + std::to_string(group) + " set to round robin\n";
    default: return "syntax error\n";
  }
}

} // namespace balance::cli
