#include "cli/top_model.hpp"

#include <algorithm>
#include <cmath>

#include "cli/format.hpp"

namespace balance::cli {

namespace {

double per_second(uint64_t now, uint64_t before, double seconds) {
  // A counter that went down was reset (`reset`): no rate this time.
  if (seconds <= 0 || now < before)
    return 0;
  return static_cast<double>(now - before) / seconds;
}

std::string health_word(const std::optional<std::vector<health_row>>& health,
                        const channel_status& ch, const health_row** found) {
  *found = nullptr;
  if (!health)
    return "-";
  for (auto& h : *health)
    if (h.group == ch.group && h.index == ch.index) {
      *found = &h;
      return h.state == health_state::unchecked ? "-" : to_string(h.state);
    }
  return "-";
}

const char* sort_name(top_sort s) {
  switch (s) {
    case top_sort::channel: return "channel";
    case top_sort::conn_rate: return "conn/s";
    case top_sort::in_rate: return "in/s";
    case top_sort::out_rate: return "out/s";
    case top_sort::current: return "c";
    case top_sort::total: return "totalc";
  }
  return "channel";
}

std::string fit(std::string line, std::size_t width) {
  if (line.size() > width)
    line.resize(width);
  return line;
}

} // namespace

std::string human_rate(double v) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  if (u == 0)
    return printf_string("%.0f", v);
  return printf_string(v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v,
                       units[u]);
}

std::string human_age(uint64_t s) {
  if (s < 120)
    return std::to_string(s) + "s";
  if (s < 7200)
    return std::to_string(s / 60) + "m";
  if (s < 172800)
    return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

void top_model::update(const std::vector<top_sample>& samples) {
  instances_ = samples;
  fleet_ = samples.size() > 1;
  rows_.clear();
  std::map<key, previous> seen;
  for (std::size_t order = 0; order < samples.size(); ++order) {
    auto& sample = samples[order];
    if (!sample.snap)
      continue;
    for (auto& ch : sample.snap->channels) {
      top_row r;
      r.instance = sample.label;
      r.instance_order = order;
      r.group = ch.group;
      r.index = ch.index;
      r.enabled = is_enabled(ch);
      const health_row* h = nullptr;
      r.health = health_word(sample.health, ch, &h);
      r.address = ch.address;
      r.port = ch.port;
      r.current = ch.current;
      r.maxc = ch.maxc;
      r.total = ch.total;
      auto state = std::string(r.enabled ? "ENA" : "dis") + "/" + r.health;
      previous now{ch, sample.at, state, std::nullopt};
      auto k = key{sample.label, ch.group, ch.index};
      if (auto it = previous_.find(k); it != previous_.end()) {
        auto& before = it->second;
        double dt =
          std::chrono::duration<double>(sample.at - before.at).count();
        r.conn_rate = per_second(ch.total, before.row.total, dt);
        r.in_rate = per_second(ch.sent, before.row.sent, dt);
        r.out_rate = per_second(ch.rcvd, before.row.rcvd, dt);
        now.changed = before.state != state ? sample.at : before.changed;
      }
      if (h && h->state != health_state::unchecked)
        r.since_change = h->seconds_since_change;
      else if (now.changed)
        r.since_change = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(sample.at
                                                           - *now.changed)
            .count());
      seen.emplace(k, std::move(now));
      rows_.push_back(std::move(r));
    }
  }
  previous_ = std::move(seen);
  sort_rows();
}

void top_model::cycle_sort() {
  sort_ = static_cast<top_sort>((static_cast<int>(sort_) + 1)
                                % (static_cast<int>(top_sort::total) + 1));
  sort_rows();
}

void top_model::sort_rows() {
  auto by_channel = [](const top_row& a, const top_row& b) {
    return std::tie(a.instance_order, a.group, a.index)
           < std::tie(b.instance_order, b.group, b.index);
  };
  auto by = [&](auto field) {
    std::stable_sort(rows_.begin(), rows_.end(),
                     [&](const top_row& a, const top_row& b) {
                       return field(a) > field(b);
                     });
  };
  std::sort(rows_.begin(), rows_.end(), by_channel);
  switch (sort_) {
    case top_sort::channel: break;
    case top_sort::conn_rate: by([](auto& r) { return r.conn_rate; }); break;
    case top_sort::in_rate: by([](auto& r) { return r.in_rate; }); break;
    case top_sort::out_rate: by([](auto& r) { return r.out_rate; }); break;
    case top_sort::current: by([](auto& r) { return r.current; }); break;
    case top_sort::total: by([](auto& r) { return r.total; }); break;
  }
}

std::vector<std::string> top_model::header_lines() const {
  double conns = 0, in = 0, out = 0;
  uint64_t live = 0;
  for (auto& r : rows_) {
    conns += r.conn_rate;
    in += r.in_rate;
    out += r.out_rate;
  }
  for (auto& s : instances_)
    if (s.snap)
      live += s.snap->live_connections;
  std::vector<std::string> lines;
  lines.push_back(printf_string(
    "balance top: %zu instance%s, %llu connections, %s conn/s, in %s/s, "
    "out %s/s, sorted by %s",
    instances_.size(), instances_.size() == 1 ? "" : "s",
    static_cast<unsigned long long>(live), human_rate(conns).c_str(),
    human_rate(in).c_str(), human_rate(out).c_str(), sort_name(sort_)));
  for (auto& s : instances_) {
    if (s.snap)
      lines.push_back(printf_string(
        "%s: balance %s, pid %d, up %s, %llu connections", s.label.c_str(),
        s.snap->version.c_str(), static_cast<int>(s.snap->pid),
        human_age(s.snap->uptime_seconds).c_str(),
        static_cast<unsigned long long>(s.snap->live_connections)));
    else
      lines.push_back(s.label + ": lost (" + s.error + "), retrying");
  }
  return lines;
}

std::string top_model::table_header() const {
  return (fleet_ ? printf_string("%-18s ", "INSTANCE") : std::string())
         + printf_string("%3s %2s %3s %6s %-22s %11s %7s %7s %7s %9s %6s",
                         "GRP", "#", "S", "HEALTH", "ADDRESS:PORT", "C/MAXC",
                         "CONN/S", "IN/S", "OUT/S", "TOTALC", "CHANGE");
}

std::string top_model::format_row(const top_row& r) const {
  auto where =
    (r.address.find(':') != std::string::npos ? "[" + r.address + "]"
                                              : r.address)
    + ":" + std::to_string(r.port);
  auto c = std::to_string(r.current) + "/" + std::to_string(r.maxc);
  return (fleet_ ? printf_string("%-18.18s ", r.instance.c_str())
                 : std::string())
         + printf_string(
           "%3u %2u %3s %6s %-22.22s %11s %7s %7s %7s %9llu %6s", r.group,
           r.index, r.enabled ? "ENA" : "dis", r.health.c_str(), where.c_str(),
           c.c_str(), human_rate(r.conn_rate).c_str(),
           human_rate(r.in_rate).c_str(), human_rate(r.out_rate).c_str(),
           static_cast<unsigned long long>(r.total),
           r.since_change ? human_age(*r.since_change).c_str() : "-");
}

std::string top_model::render_text() const {
  std::string out;
  for (auto& line : header_lines())
    out += line + "\n";
  out += table_header() + "\n";
  for (auto& r : rows_)
    out += format_row(r) + "\n";
  if (fleet_) {
    top_row total;
    total.instance = "total";
    for (auto& r : rows_) {
      total.current += r.current;
      total.total += r.total;
      total.conn_rate += r.conn_rate;
      total.in_rate += r.in_rate;
      total.out_rate += r.out_rate;
    }
    out += printf_string("%-18s %3s %2s %3s %6s %-22s %11u %7s %7s %7s %9llu\n",
                         "total", "", "", "", "", "", total.current,
                         human_rate(total.conn_rate).c_str(),
                         human_rate(total.in_rate).c_str(),
                         human_rate(total.out_rate).c_str(),
                         static_cast<unsigned long long>(total.total));
  }
  return out;
}

std::vector<std::string> top_model::render_screen(
  std::size_t width, std::size_t height, std::size_t selected,
  const std::string& status) const {
  std::vector<std::string> screen;
  for (auto& line : header_lines())
    screen.push_back(fit(line, width));
  screen.push_back(fit("  " + table_header(), width));
  // Rows fill what the header and the status line leave, scrolled so that
  // the selected one shows.
  auto room = height > screen.size() + 1 ? height - screen.size() - 1 : 0;
  std::size_t first = selected >= room ? selected - room + 1 : 0;
  for (std::size_t i = first; i < rows_.size() && i < first + room; ++i)
    screen.push_back(
      fit((i == selected ? "> " : "  ") + format_row(rows_[i]), width));
  while (screen.size() + 1 < height)
    screen.emplace_back();
  screen.push_back(fit(status, width));
  return screen;
}

} // namespace balance::cli
