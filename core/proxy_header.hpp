// HAProxy's PROXY protocol (doc/proxy-protocol.txt, versions 1 and 2): the
// header a proxy writes before the first relayed byte so that the
// destination learns who the client is, and the decoder for one that a
// trusted proxy in front of balance sends us. Pure: bytes in, bytes out,
// no socket (the connection in net/ does the I/O).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/endpoint.hpp"

namespace balance {

enum class proxy_version : uint8_t { none = 0, v1 = 1, v2 = 2 };

/// The longest v1 line the spec allows, CRLF included ("PROXY UNKNOWN"
/// with two full IPv6 addresses and ports).
constexpr std::size_t proxy_v1_max = 107;
/// The longest v2 header we accept, 16 bytes + address block + TLVs: the
/// spec keeps a header within the smallest TCP segment every host must
/// take (576 - 40 bytes), so anything longer is not a header we expect.
constexpr std::size_t proxy_v2_max = 536;
/// Enough to decide on any header (what the reader peeks at most).
constexpr std::size_t proxy_header_max = proxy_v2_max;

// -- writing ------------------------------------------------------------------

/// A header ready for one send(): at most 104 bytes (v1 TCP6), no allocation.
struct proxy_header_bytes {
  std::array<uint8_t, 108> data{};
  std::size_t size = 0;
};

/// The header for a connection from `source` to `destination` (what the
/// client connected to). v1: `PROXY TCP4 ...` or `TCP6`; v2: PROXY
/// command, family byte 0x11 or 0x21. Both IPv4 (v4-mapped addresses are
/// IPv4 already, see endpoint) give TCP4 / 0x11; if only one is IPv6 the
/// other is written v4-mapped. `none` gives an empty header.
proxy_header_bytes encode_proxy_header(proxy_version version,
                                       const endpoint& source,
                                       const endpoint& destination);

/// The header of a connection the proxy makes on its own behalf (a health
/// check): v1 `PROXY UNKNOWN\r\n`, v2 the LOCAL command with no address.
proxy_header_bytes encode_proxy_local(proxy_version version);

// -- reading ------------------------------------------------------------------

enum class proxy_parse {
  need_more, ///< a valid beginning: wait for more bytes
  done,      ///< a whole header, `consumed` bytes long
  malformed, ///< not a PROXY header, or a broken one (`error` says why)
};

/// The addresses a header carried (source = the client).
struct proxy_addresses {
  endpoint source;
  endpoint destination;
};

struct proxy_decoded {
  proxy_parse status = proxy_parse::need_more;
  std::size_t consumed = 0;
  proxy_version version = proxy_version::none;
  /// done: the header's TCP addresses; none for v1 UNKNOWN, v2 LOCAL and
  /// v2 families other than TCP over IPv4/IPv6 (the connection's own
  /// addresses stand, as the spec says).
  std::optional<proxy_addresses> addresses;
  const char* error = nullptr; ///< malformed: why (a static string)
};

/// Decodes the header at the start of `data` (all `size` bytes received so
/// far; call again with more on need_more). Detects the version by its
/// signature; never looks past proxy_header_max bytes, never reads past
/// the header it returns (`consumed`). Total: any input is safe.
proxy_decoded decode_proxy_header(const uint8_t* data, std::size_t size);

} // namespace balance
