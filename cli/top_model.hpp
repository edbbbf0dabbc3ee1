// What `balance top` shows, as plain C++: the rows of every instance's
// channels with rates computed from the difference of two samples of the
// counters (the daemon keeps no rates), the header's totals, sorting, and
// the text of a screen or of a --batch snapshot. Pure, unit-tested; the
// terminal and the control connections are cli/top.cpp's.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/vocabulary.hpp"

namespace balance::cli {

using top_clock = std::chrono::steady_clock;

/// One instance's answer at one moment (or why there was none).
struct top_sample {
  std::string label; ///< "port 8888" or host:port
  std::optional<snapshot> snap;
  std::optional<std::vector<health_row>> health; ///< none from older daemons
  std::string error;                             ///< when snap is empty
  top_clock::time_point at{};
};

struct top_row {
  std::string instance;
  std::size_t instance_order = 0; ///< its place on the command line
  uint32_t group = 0;
  uint32_t index = 0;
  bool enabled = true;
  std::string health; ///< "up", "down", or "-" (unchecked, or unknown)
  std::string address;
  uint16_t port = 0;
  uint32_t current = 0;
  uint32_t maxc = 0;
  uint64_t total = 0;
  double conn_rate = 0; ///< new connections per second (totalc)
  double in_rate = 0;   ///< bytes per second from clients (sent)
  double out_rate = 0;  ///< bytes per second to clients (rcvd)
  /// Seconds since S or health last changed: the daemon's health age when
  /// checked, else since this view saw a change (nothing until then).
  std::optional<uint64_t> since_change;
};

/// The columns `s` cycles through.
enum class top_sort { channel, conn_rate, in_rate, out_rate, current, total };

class top_model {
public:
  /// Takes a new sample of every instance; rates are against the last one.
  void update(const std::vector<top_sample>& samples);

  const std::vector<top_row>& rows() const { return rows_; }
  top_sort sort() const { return sort_; }
  /// The next column to sort by (descending, but channel order).
  void cycle_sort();

  /// A --batch snapshot: the header lines, then the table.
  std::string render_text() const;
  /// The full screen, `height` lines of at most `width` characters: the
  /// header, the table (scrolled so that `selected` shows, which is marked)
  /// and `status` on the last line.
  std::vector<std::string> render_screen(std::size_t width, std::size_t height,
                                         std::size_t selected,
                                         const std::string& status) const;

private:
  using key = std::tuple<std::string, uint32_t, uint32_t>;
  struct previous {
    channel_status row;
    top_clock::time_point at;
    std::string state; ///< S and health as shown, to notice a change
    std::optional<top_clock::time_point> changed;
  };

  std::vector<std::string> header_lines() const;
  std::string table_header() const;
  std::string format_row(const top_row& r) const;
  void sort_rows();

  std::vector<top_row> rows_;
  std::map<key, previous> previous_;
  std::vector<top_sample> instances_; ///< the last samples, for the header
  top_sort sort_ = top_sort::channel;
  bool fleet_ = false;
};

/// Bytes per second as top shows them: 950, 12.3K, 4.5M, 1.2G.
std::string human_rate(double per_second);
/// Seconds as 45s, 12m, 3h, 2d.
std::string human_age(uint64_t seconds);

} // namespace balance::cli
