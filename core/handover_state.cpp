#include "core/handover_state.hpp"

#include <sstream>

#include "core/limits.hpp"

namespace balance {

namespace {

constexpr const char* header = "balance-handover 1";
constexpr std::size_t max_line = 8192;
constexpr std::size_t max_token = 256;
constexpr uint64_t max_maxc = 1000000000;
constexpr uint64_t max_pid = 4194304; // the kernel's PID_MAX_LIMIT

const char* state_name(channel_state s) {
  switch (s) {
    case channel_state::enabled: return "enabled";
    case channel_state::disabled: return "disabled";
    case channel_state::auto_disabled: return "auto_disabled";
  }
  return "disabled";
}

std::optional<channel_state> parse_state_name(const std::string& word) {
  for (auto s : {channel_state::enabled, channel_state::disabled,
                 channel_state::auto_disabled})
    if (word == state_name(s))
      return s;
  return std::nullopt;
}

// Digits only (no sign, no blanks), at most 20 of them, no overflow.
bool parse_u64(const std::string& text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 20)
    return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return false;
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  if (value > max)
    return false;
  out = value;
  return true;
}

bool is_hex(const std::string& text) {
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;)
    words.push_back(w);
  return words;
}

/// The reader's progress: which records came, in which order.
struct reader {
  handover_state state;
  bool have_pid = false, have_token = false, have_uptime = false,
       have_rendezvous = false, ended = false;
  std::string error;

  bool fail(std::size_t line_no, const std::string& what) {
    error = "line " + std::to_string(line_no) + ": " + what;
    return false;
  }

  bool group(std::size_t n, const std::vector<std::string>& w) {
    uint64_t g = 0, cursor = 0;
    if (w.size() != 4 || !parse_u64(w[1], max_groups - 1, g)
        || (w[2] != "rr" && w[2] != "hash")
        || !parse_u64(w[3], max_channels, cursor))
      return fail(n, "malformed group record");
    // Ascending and once each: a reader never sees a group twice.
    if (g < state.groups.size())
      return fail(n, "group " + w[1] + " out of order or repeated");
    state.groups.resize(g + 1);
    state.groups[g].type = w[2] == "hash" ? group_type::hash
                                          : group_type::round_robin;
    state.groups[g].cursor = static_cast<uint32_t>(cursor);
    return true;
  }

  bool channel(std::size_t n, const std::vector<std::string>& w) {
    uint64_t g = 0, index = 0, port = 0, maxc = 0, total = 0, sent = 0,
             rcvd = 0;
    if (w.size() != 10 || !parse_u64(w[1], max_groups - 1, g)
        || !parse_u64(w[2], max_channels - 1, index)
        || !parse_u64(w[4], 65535, port) || port == 0
        || !parse_u64(w[5], max_maxc, maxc)
        || !parse_u64(w[7], UINT64_MAX, total)
        || !parse_u64(w[8], UINT64_MAX, sent)
        || !parse_u64(w[9], UINT64_MAX, rcvd))
      return fail(n, "malformed channel record");
    // Its group is the last one opened, and channels come in order.
    if (state.groups.empty() || g != state.groups.size() - 1)
      return fail(n, "channel of group " + w[1] + " outside its group");
    auto& chans = state.groups.back().channels;
    if (index != chans.size())
      return fail(n, "channel " + w[2] + " out of order");
    auto address = parse_numeric_address(w[3]);
    if (!address)
      return fail(n, "not a numeric address: '" + w[3] + "'");
    auto st = parse_state_name(w[6]);
    if (!st)
      return fail(n, "unknown channel state '" + w[6] + "'");
    saved_channel ch;
    ch.target = *address;
    ch.target.port = static_cast<uint16_t>(port);
    ch.maxc = static_cast<uint32_t>(maxc);
    ch.state = *st;
    ch.total = total;
    ch.sent = sent;
    ch.rcvd = rcvd;
    chans.push_back(ch);
    return true;
  }

  bool line(std::size_t n, const std::string& text) {
    if (ended)
      return fail(n, "text after 'end'");
    // The control file's path may hold blanks: the rest of the line.
    if (text.rfind("rendezvous ", 0) == 0) {
      if (have_rendezvous)
        return fail(n, "repeated rendezvous record");
      state.rendezvous = text.substr(11);
      have_rendezvous = true;
      if (state.rendezvous.empty() || state.rendezvous.front() != '/'
          || state.rendezvous.find('\0') != std::string::npos)
        return fail(n, "the control file is not an absolute path");
      return true;
    }
    auto w = words_of(text);
    if (w.empty())
      return fail(n, "empty line");
    uint64_t value = 0;
    if (w[0] == "pid") {
      if (have_pid || w.size() != 2 || !parse_u64(w[1], max_pid, value)
          || value == 0)
        return fail(n, "malformed pid record");
      state.pid = static_cast<int32_t>(value);
      have_pid = true;
    } else if (w[0] == "token") {
      if (have_token || w.size() != 2 || w[1].size() < 16
          || w[1].size() > max_token || !is_hex(w[1]))
        return fail(n, "malformed token record");
      state.token = w[1];
      have_token = true;
    } else if (w[0] == "uptime") {
      if (have_uptime || w.size() != 2
          || !parse_u64(w[1], uint64_t{1} << 40, value))
        return fail(n, "malformed uptime record");
      state.uptime_seconds = value;
      have_uptime = true;
    } else if (w[0] == "group") {
      return group(n, w);
    } else if (w[0] == "channel") {
      return channel(n, w);
    } else if (w[0] == "end" && w.size() == 1) {
      ended = true;
    } else {
      return fail(n, "unknown record '" + w[0].substr(0, 32) + "'");
    }
    return true;
  }
};

} // namespace

std::string serialize(const handover_state& state) {
  std::ostringstream out;
  out << header << "\npid " << state.pid << "\ntoken " << state.token
      << "\nuptime " << state.uptime_seconds << "\nrendezvous "
      << state.rendezvous << "\n";
  for (std::size_t g = 0; g < state.groups.size(); ++g) {
    auto& group = state.groups[g];
    out << "group " << g << " "
        << (group.type == group_type::hash ? "hash" : "rr") << " "
        << group.cursor << "\n";
    for (std::size_t c = 0; c < group.channels.size(); ++c) {
      auto& ch = group.channels[c];
      out << "channel " << g << " " << c << " " << ch.target.address_text()
          << " " << ch.target.port << " " << ch.maxc << " "
          << state_name(ch.state) << " " << ch.total << " " << ch.sent << " "
          << ch.rcvd << "\n";
    }
  }
  out << "end\n";
  return out.str();
}

std::optional<handover_state> parse_handover_state(const std::string& text,
                                                   std::string& error) {
  if (text.size() > max_handover_state_size) {
    error = "state too large (" + std::to_string(text.size()) + " bytes)";
    return std::nullopt;
  }
  if (text.rfind(std::string(header) + "\n", 0) != 0) {
    error = "not a balance hand-over state (or another version)";
    return std::nullopt;
  }
  reader r;
  std::size_t line_no = 1, pos = std::string(header).size() + 1;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      error = "line " + std::to_string(line_no + 1) + ": no line end";
      return std::nullopt;
    }
    ++line_no;
    if (nl - pos > max_line) {
      error = "line " + std::to_string(line_no) + ": too long";
      return std::nullopt;
    }
    if (!r.line(line_no, text.substr(pos, nl - pos))) {
      error = r.error;
      return std::nullopt;
    }
    pos = nl + 1;
  }
  if (!r.ended || !r.have_pid || !r.have_token || !r.have_uptime
      || !r.have_rendezvous) {
    error = "incomplete state (truncated?)";
    return std::nullopt;
  }
  for (std::size_t g = 0; g < r.state.groups.size(); ++g) {
    auto& group = r.state.groups[g];
    if (group.cursor > 0 && group.cursor >= group.channels.size()) {
      error = "group " + std::to_string(g) + ": cursor past its channels";
      return std::nullopt;
    }
  }
  return std::move(r.state);
}

saved_group capture_group(const group_policy& policy) {
  saved_group saved;
  saved.type = policy.type;
  saved.cursor = policy.cursor();
  for (auto& ch : policy.channels()) {
    saved_channel s;
    s.target = ch.target;
    s.maxc = ch.maxc;
    // A failed connect under -a not yet published is a disable all the same.
    s.state = ch.state == channel_state::enabled && !ch.enabled()
                ? channel_state::auto_disabled
                : ch.state;
    s.total = ch.total();
    s.sent = ch.traffic->sent.load(std::memory_order_relaxed);
    s.rcvd = ch.traffic->rcvd.load(std::memory_order_relaxed);
    saved.channels.push_back(s);
  }
  if (saved.cursor >= saved.channels.size())
    saved.cursor = 0;
  return saved;
}

void restore_group(group_policy& policy, const saved_group& saved) {
  policy.type = saved.type;
  for (auto& s : saved.channels) {
    auto index = policy.add(s.target, s.maxc, s.state);
    auto& ch = policy.channels()[index];
    if (s.state == channel_state::auto_disabled)
      ch.load->failed_off.store(true, std::memory_order_relaxed);
    ch.load->total.store(s.total, std::memory_order_relaxed);
    ch.traffic->sent.store(s.sent, std::memory_order_relaxed);
    ch.traffic->rcvd.store(s.rcvd, std::memory_order_relaxed);
  }
  policy.set_cursor(saved.cursor < saved.channels.size() ? saved.cursor : 0);
}

} // namespace balance
