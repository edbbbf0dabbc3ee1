// The PROXY protocol's wire constants (doc/proxy-protocol.txt), shared by
// the encoder and the decoder of core/proxy_header.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace balance::proxy_wire {

// \r\n\r\n\0\r\nQUIT\n: chosen by the spec to break every common protocol.
inline constexpr uint8_t v2_signature[12] = {
  0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
inline constexpr std::size_t v2_fixed = 16;
inline constexpr uint8_t v2_version = 0x20;
inline constexpr uint8_t cmd_local = 0x0;
inline constexpr uint8_t cmd_proxy = 0x1;
inline constexpr uint8_t fam_inet = 0x1;
inline constexpr uint8_t fam_inet6 = 0x2;
inline constexpr uint8_t fam_unix = 0x3;
inline constexpr uint8_t proto_stream = 0x1;
inline constexpr std::size_t inet_block = 12;  // 2 * 4 + 2 * 2
inline constexpr std::size_t inet6_block = 36; // 2 * 16 + 2 * 2
inline constexpr std::size_t unix_block = 216; // 2 * 108

inline constexpr uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};

} // namespace balance::proxy_wire
