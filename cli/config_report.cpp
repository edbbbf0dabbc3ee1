#include "cli/config_report.hpp"

#include "cli/format.hpp"

namespace balance::cli {

std::vector<std::string> describe_groups(const options& opts) {
  std::vector<std::string> lines;
  for (std::size_t g = 0; g < opts.groups.size(); ++g) {
    auto& group = opts.groups[g];
    lines.push_back("group " + std::to_string(g) + " " + show_name(group.type));
    for (std::size_t c = 0; c < group.channels.size(); ++c) {
      auto& ch = group.channels[c];
      auto line = "  channel " + std::to_string(c) + " " + ch.target.to_string()
                  + " maxc " + std::to_string(ch.maxc);
      // A name says which host the address came from.
      if (!parse_numeric_address(ch.host))
        line += " (" + ch.host + ")";
      lines.push_back(std::move(line));
    }
  }
  return lines;
}

} // namespace balance::cli
