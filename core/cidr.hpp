// Address ranges in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one
// address), as --accept-proxy takes them: parsing and matching.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.hpp"

namespace balance {

struct cidr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{}; ///< the network, host bits cleared
  unsigned prefix = 0;             ///< 0..32 (IPv4) or 0..128 (IPv6)

  /// Whether `addr` lies in the range. An IPv4 client (also one seen
  /// v4-mapped on the dual-stack listener: endpoints fold those) matches
  /// IPv4 ranges only, an IPv6 one IPv6 ranges only.
  bool contains(const endpoint& addr) const;
  /// `network/prefix`.
  std::string to_string() const;
};

/// Parses `addr/prefix` or a bare address (the whole prefix). Host bits
/// are cleared (`10.1.2.3/8` is `10.0.0.0/8`, as HAProxy and nginx read
/// it). A v4-mapped range (`::ffff:10.0.0.0/104`) is the IPv4 range it
/// maps. nullopt if it is not one.
std::optional<cidr> parse_cidr(const std::string& text);

/// Parses `CIDR[,CIDR...]`; on failure nullopt and `bad` = the entry at
/// fault (empty entries are errors too).
std::optional<std::vector<cidr>> parse_cidr_list(const std::string& text,
                                                 std::string& bad);

/// Whether any range holds `addr` (false for an empty list).
bool any_contains(const std::vector<cidr>& ranges, const endpoint& addr);

} // namespace balance
