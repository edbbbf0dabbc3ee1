// Our renderings beside 3.54's texts: JSON, the Prometheus exposition and
// the health table, each from the same structured replies.
#include <nlohmann/json.hpp>

#include "cli/format.hpp"

namespace balance::cli {

namespace {

// The JSON spellings. A value that is no enumerator (a newer daemon) reads
// as the last one, as the integer comparisons before the enums did.
const char* json_name(group_type type) {
  switch (type) {
    case group_type::round_robin: return "rr";
    case group_type::hash: return "hash";
  }
  return "rr";
}

const char* json_name(channel_state state) {
  switch (state) {
    case channel_state::enabled: return "enabled";
    case channel_state::disabled: return "disabled";
    case channel_state::auto_disabled: return "auto-disabled";
  }
  return "auto-disabled";
}

/// The health row of `ch`, if the daemon gave one (a channel created
/// between the two requests has none yet: it reads as unchecked).
const health_row* health_of(const std::vector<health_row>* health,
                            const channel_status& ch) {
  if (!health)
    return nullptr;
  for (auto& row : *health)
    if (row.group == ch.group && row.index == ch.index)
      return &row;
  return nullptr;
}

health_state state_of(const health_row* row) {
  return row ? row->state : health_state::unchecked;
}

std::string labels(const channel_status& ch) {
  return "{group=\"" + std::to_string(ch.group) + "\",channel=\""
         + std::to_string(ch.index) + "\",address=\"" + ch.address
         + "\",port=\"" + std::to_string(ch.port) + "\"}";
}

} // namespace

std::string format_json(const snapshot& snap,
                        const std::vector<health_row>* health,
                        const lifecycle_status* life) {
  using nlohmann::json;
  json groups = json::array();
  for (auto& ch : snap.channels) {
    if (groups.empty() || groups.back()["group"] != ch.group)
      groups.push_back({{"group", ch.group},
                        {"type", json_name(ch.type)},
                        {"channels", json::array()}});
    auto& row = groups.back()["channels"].emplace_back(json{
      {"channel", ch.index},
      {"state", json_name(ch.state)},
      {"enabled", is_enabled(ch)},
      {"address", ch.address},
      {"port", ch.port},
      {"c", ch.current},
      {"totalc", ch.total},
      {"maxc", ch.maxc},
      {"sent", ch.sent},
      {"rcvd", ch.rcvd},
    });
    if (health) {
      auto* h = health_of(health, ch);
      row["health"] = to_string(state_of(h));
      row["check_successes"] = h ? h->successes : 0;
      row["check_failures"] = h ? h->failures : 0;
      row["health_changed_seconds_ago"] = h ? h->seconds_since_change : 0;
      row["last_check_error"] =
        h && h->last_error != check_error::none ? to_string(h->last_error) : "";
    }
  }
  json doc = {
    {"version", snap.version},
    {"pid", snap.pid},
    {"uptime_seconds", snap.uptime_seconds},
    {"max_groups", snap.max_groups},
    {"max_channels", snap.max_channels},
    {"live_connections", snap.live_connections},
    {"accept_errors", snap.accept_errors},
    {"groups", groups},
  };
  if (life) {
    doc["draining"] = life->phase == lifecycle_phase::draining;
    if (life->drain_seconds_left > 0)
      doc["drain_seconds_left"] = life->drain_seconds_left;
    if (life->successor_pid > 0)
      doc["successor_pid"] = life->successor_pid;
  }
  return doc.dump(2) + "\n";
}

std::string format_metrics(const snapshot& snap,
                           const std::vector<health_row>* health,
                           const lifecycle_status* life) {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " "
           + type + "\n";
  };
  auto per_channel = [&](const char* name, const char* type, const char* help,
                         auto value) {
    family(name, type, help);
    for (auto& ch : snap.channels)
      out += std::string(name) + labels(ch) + " " + std::to_string(value(ch))
             + "\n";
  };
  family("balance_info", "gauge", "Version of the running balance.");
  out += "balance_info{version=\"" + snap.version + "\"} 1\n";
  family("balance_uptime_seconds", "gauge", "Seconds since the start.");
  out += "balance_uptime_seconds " + std::to_string(snap.uptime_seconds) + "\n";
  family("balance_connections", "gauge", "Proxied connections open now.");
  out += "balance_connections " + std::to_string(snap.live_connections) + "\n";
  family("balance_accept_errors_total", "counter",
         "accept() failures (e.g. out of file descriptors).");
  out += "balance_accept_errors_total " + std::to_string(snap.accept_errors)
         + "\n";
  if (life) {
    family("balance_draining", "gauge",
           "Whether the instance drains: listeners closed, connections "
           "finishing.");
    out += std::string("balance_draining ")
           + (life->phase == lifecycle_phase::draining ? "1" : "0") + "\n";
  }
  per_channel("balance_channel_up", "gauge", "1 if the channel is enabled.",
              [](auto& ch) { return is_enabled(ch) ? 1 : 0; });
  per_channel("balance_channel_connections", "gauge",
              "Current connections of the channel (c).",
              [](auto& ch) { return ch.current; });
  per_channel("balance_channel_max_connections", "gauge",
              "Connection limit of the channel (maxc, 0 = none).",
              [](auto& ch) { return ch.maxc; });
  per_channel("balance_channel_connections_total", "counter",
              "Connection attempts to the channel (totalc).",
              [](auto& ch) { return ch.total; });
  per_channel("balance_channel_sent_bytes_total", "counter",
              "Bytes sent from clients to the channel.",
              [](auto& ch) { return ch.sent; });
  per_channel("balance_channel_received_bytes_total", "counter",
              "Bytes received from the channel for clients.",
              [](auto& ch) { return ch.rcvd; });
  if (!health)
    return out;
  // Checked channels only: an unchecked one is neither healthy nor not.
  family("balance_channel_healthy", "gauge",
         "1 if the channel's health checks pass, 0 if it is down.");
  for (auto& ch : snap.channels)
    if (auto state = state_of(health_of(health, ch));
        state != health_state::unchecked)
      out += "balance_channel_healthy" + labels(ch)
             + (state == health_state::up ? " 1\n" : " 0\n");
  family("balance_channel_check_failures", "gauge",
         "Consecutive failed health checks of the channel.");
  for (auto& ch : snap.channels)
    if (auto* h = health_of(health, ch); h && h->state != health_state::unchecked)
      out += "balance_channel_check_failures" + labels(ch) + " "
             + std::to_string(h->failures) + "\n";
  return out;
}

std::string format_health(const snapshot& snap,
                          const std::vector<health_row>& health) {
  std::string out = printf_string("%3s %2s %3s %16s %5s %6s %4s %4s %7s %s\n",
                                  "GRP", "#", "S", "ip-address", "port",
                                  "health", "succ", "fail", "since", "error");
  for (auto& ch : snap.channels) {
    auto* h = health_of(&health, ch);
    auto state = state_of(h);
    auto error = h && h->last_error != check_error::none
                   ? to_string(h->last_error)
                   : std::string("-");
    out += printf_string(
      "%3d %2d %3s %16s %5d %6s %4u %4u %7llu %s\n",
      static_cast<int>(ch.group), static_cast<int>(ch.index),
      is_enabled(ch) ? "ENA" : "dis", ch.address.c_str(),
      static_cast<int>(ch.port),
      state == health_state::unchecked ? "-" : to_string(state).c_str(),
      h ? h->successes : 0U, h ? h->failures : 0U,
      static_cast<unsigned long long>(h ? h->seconds_since_change : 0),
      error.c_str());
  }
  return out;
}

} // namespace balance::cli
