// What -d lists at start: every group and channel the daemon was given.
#include <catch2/catch.hpp>

#include "cli/config_report.hpp"

using namespace balance;
using namespace balance::cli;

namespace {

channel_spec make_channel(const std::string& host, const std::string& address,
                          uint16_t port, uint32_t maxc) {
  channel_spec ch;
  ch.text = host + ":" + std::to_string(port);
  ch.host = host;
  ch.port = port;
  ch.maxc = maxc;
  ch.target = *parse_numeric_address(address);
  ch.target.port = port;
  return ch;
}

} // namespace

TEST_CASE("the -d report lists each group with its type and each channel",
          "[report]") {
  options opts;
  opts.groups.resize(2);
  opts.groups[0].type = group_type::hash;
  opts.groups[0].channels.push_back(
    make_channel("10.0.0.1", "10.0.0.1", 80, 0));
  opts.groups[0].channels.push_back(make_channel("web", "10.0.0.2", 8080, 5));
  opts.groups[1].channels.push_back(make_channel("::1", "::1", 443, 0));
  CHECK(describe_groups(opts)
        == std::vector<std::string>{
          "group 0 Hash",
          "  channel 0 10.0.0.1:80 maxc 0",
          "  channel 1 10.0.0.2:8080 maxc 5 (web)",
          "group 1 RR",
          "  channel 0 [::1]:443 maxc 0",
        });
}
