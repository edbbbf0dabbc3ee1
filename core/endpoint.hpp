// Addresses and ports as the command line and the control plane spell them:
// parsing, name resolution and printing, without Asio (cheap to include).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace balance {

/// An IPv4 or IPv6 address plus a port; v4-mapped IPv6 addresses are folded
/// to IPv4 so that one client has one identity whichever socket saw it.
struct endpoint {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{}; ///< first 4 bytes used for IPv4
  uint16_t port = 0;

  /// The address alone: dotted quad or RFC 5952 IPv6 text.
  std::string address_text() const;
  /// `a.b.c.d:port` or `[v6]:port`.
  std::string to_string() const;
  /// The bytes that identify the address (4 or 16).
  std::size_t address_size() const { return v6 ? 16 : 4; }

  friend bool operator==(const endpoint& a, const endpoint& b) {
    return a.v6 == b.v6 && a.bytes == b.bytes && a.port == b.port;
  }
};

/// Builds an endpoint from a sockaddr (sockaddr_in or sockaddr_in6).
endpoint from_sockaddr(const void* sa);

/// Writes `ep` as a sockaddr_in or sockaddr_in6 into `out` (a
/// sockaddr_storage); returns its length.
unsigned to_sockaddr(const endpoint& ep, void* out);

/// Parses a numeric IPv4/IPv6 address; nullopt if it is not one.
std::optional<endpoint> parse_numeric_address(const std::string& text);

/// A port by number (1..65535, digits only) or by /etc/services tcp name.
std::optional<uint16_t> parse_port(const std::string& text);

/// Which address family a name may resolve to.
enum class family { any, v4, v6 };

/// Resolves a host name or numeric address. Prefers IPv4 when `any` (the
/// way 3.54 resolved backends); on failure returns nullopt and sets `error`.
std::optional<endpoint> resolve_host(const std::string& host, family fam,
                                     std::string& error);

} // namespace balance
