// Reading PROXY headers (core/proxy_header.hpp): version by signature,
// then the v1 line or the v2 block, strictly as the spec has them.
#include "core/proxy_header.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <string_view>

#include "core/proxy_wire.hpp"

namespace balance {

using namespace proxy_wire;

namespace {

proxy_decoded malformed(const char* why) {
  proxy_decoded r;
  r.status = proxy_parse::malformed;
  r.error = why;
  return r;
}

proxy_decoded done(proxy_version v, std::size_t consumed,
                   std::optional<proxy_addresses> addresses) {
  proxy_decoded r;
  r.status = proxy_parse::done;
  r.version = v;
  r.consumed = consumed;
  r.addresses = addresses;
  return r;
}

// Whether `data` begins as `prefix` does, over the bytes both have.
bool starts_like(const uint8_t* data, std::size_t size, const uint8_t* prefix,
                 std::size_t prefix_size) {
  return std::memcmp(data, prefix, size < prefix_size ? size : prefix_size)
         == 0;
}

endpoint v6_endpoint(const uint8_t* bytes, uint16_t port) {
  endpoint ep;
  ep.port = port;
  if (std::memcmp(bytes, v4_mapped_prefix, 12) == 0) {
    std::memcpy(ep.bytes.data(), bytes + 12, 4); // one client, one identity
  } else {
    ep.v6 = true;
    std::memcpy(ep.bytes.data(), bytes, 16);
  }
  return ep;
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// Decimal without a leading zero (the spec forbids them: octal confusion).
std::optional<unsigned> strict_decimal(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0'))
    return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max)
    return std::nullopt;
  return v;
}

std::optional<endpoint> v1_ipv4(std::string_view s) {
  endpoint ep;
  for (int i = 0; i < 4; ++i) {
    auto dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos)
      return std::nullopt;
    auto octet = strict_decimal(s.substr(0, dot), 255);
    if (!octet)
      return std::nullopt;
    ep.bytes[i] = static_cast<uint8_t>(*octet);
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  return ep;
}

std::optional<endpoint> v1_ipv6(std::string_view s) {
  char text[48];
  if (s.empty() || s.size() >= sizeof(text))
    return std::nullopt;
  std::memcpy(text, s.data(), s.size());
  text[s.size()] = '\0';
  uint8_t bytes[16];
  if (::inet_pton(AF_INET6, text, bytes) != 1)
    return std::nullopt;
  return v6_endpoint(bytes, 0);
}

// Splits off the text up to the next single space (none left: all of it).
std::string_view next_field(std::string_view& line) {
  auto sp = line.find(' ');
  auto field = line.substr(0, sp);
  line.remove_prefix(sp == std::string_view::npos ? line.size() : sp + 1);
  return field;
}

proxy_decoded decode_v1(const uint8_t* data, std::size_t size) {
  // The line ends at the first CRLF, which must end within 107 bytes; a
  // lone CR or LF is not an end the spec tolerates.
  std::size_t limit = size < proxy_v1_max ? size : proxy_v1_max;
  std::size_t end = 0;
  bool found = false;
  for (std::size_t i = 0; i < limit && !found; ++i) {
    if (data[i] == '\n')
      return malformed("v1: LF without CR");
    if (data[i] != '\r')
      continue;
    if (i + 1 >= proxy_v1_max)
      return malformed("v1: no CRLF within 107 bytes");
    if (i + 1 == size)
      return proxy_decoded{}; // the LF may be next
    if (data[i + 1] != '\n')
      return malformed("v1: CR without LF");
    end = i;
    found = true;
  }
  if (!found)
    return size >= proxy_v1_max ? malformed("v1: no CRLF within 107 bytes")
                                : proxy_decoded{};
  std::string_view line(reinterpret_cast<const char*>(data), end);
  auto consumed = end + 2;
  if (next_field(line) != "PROXY")
    return malformed("v1: no space after PROXY");
  auto proto = next_field(line);
  if (proto == "UNKNOWN") // the rest of the line is to be ignored
    return done(proxy_version::v1, consumed, std::nullopt);
  bool v6 = proto == "TCP6";
  if (!v6 && proto != "TCP4")
    return malformed("v1: protocol is not TCP4, TCP6 or UNKNOWN");
  auto src_text = next_field(line);
  auto dst_text = next_field(line);
  auto sport_text = next_field(line);
  auto dport_text = line;
  if (dport_text.find(' ') != std::string_view::npos)
    return malformed("v1: too many fields");
  auto src = v6 ? v1_ipv6(src_text) : v1_ipv4(src_text);
  auto dst = v6 ? v1_ipv6(dst_text) : v1_ipv4(dst_text);
  if (!src || !dst)
    return malformed("v1: bad address");
  auto sport = strict_decimal(sport_text, 65535);
  auto dport = strict_decimal(dport_text, 65535);
  if (!sport || !dport)
    return malformed("v1: bad port");
  src->port = static_cast<uint16_t>(*sport);
  dst->port = static_cast<uint16_t>(*dport);
  return done(proxy_version::v1, consumed, proxy_addresses{*src, *dst});
}

proxy_decoded decode_v2(const uint8_t* data, std::size_t size) {
  if (size < v2_fixed)
    return proxy_decoded{};
  uint8_t ver_cmd = data[12];
  uint8_t fam = data[13] >> 4;
  uint8_t proto = data[13] & 0x0f;
  std::size_t total = v2_fixed + be16(data + 14);
  if ((ver_cmd & 0xf0) != v2_version)
    return malformed("v2: version is not 2");
  uint8_t cmd = ver_cmd & 0x0f;
  if (cmd != cmd_local && cmd != cmd_proxy)
    return malformed("v2: unknown command");
  if (total > proxy_v2_max)
    return malformed("v2: longer than 536 bytes");
  // LOCAL (a health check): the block, family included, is skipped and
  // the connection's own addresses stand.
  if (cmd == cmd_proxy) {
    if (fam > fam_unix || proto > 0x2)
      return malformed("v2: unknown family or protocol");
    std::size_t block = total - v2_fixed;
    if ((fam == fam_inet && block < inet_block)
        || (fam == fam_inet6 && block < inet6_block)
        || (fam == fam_unix && block < unix_block))
      return malformed("v2: address block too short for its family");
  }
  if (size < total)
    return proxy_decoded{};
  // So do families we do not relay (UNIX, UDP, UNSPEC).
  if (cmd == cmd_local || proto != proto_stream
      || (fam != fam_inet && fam != fam_inet6))
    return done(proxy_version::v2, total, std::nullopt);
  const uint8_t* a = data + v2_fixed;
  proxy_addresses addrs;
  if (fam == fam_inet) {
    std::memcpy(addrs.source.bytes.data(), a, 4);
    std::memcpy(addrs.destination.bytes.data(), a + 4, 4);
    addrs.source.port = be16(a + 8);
    addrs.destination.port = be16(a + 10);
  } else {
    addrs.source = v6_endpoint(a, be16(a + 32));
    addrs.destination = v6_endpoint(a + 16, be16(a + 34));
  }
  return done(proxy_version::v2, total, addrs);
}

} // namespace

proxy_decoded decode_proxy_header(const uint8_t* data, std::size_t size) {
  static const uint8_t v1_signature[5] = {'P', 'R', 'O', 'X', 'Y'};
  if (size == 0)
    return proxy_decoded{};
  if (starts_like(data, size, v2_signature, sizeof(v2_signature)))
    return size < sizeof(v2_signature) ? proxy_decoded{}
                                       : decode_v2(data, size);
  if (starts_like(data, size, v1_signature, sizeof(v1_signature)))
    return size < sizeof(v1_signature) ? proxy_decoded{}
                                       : decode_v1(data, size);
  return malformed("no PROXY protocol signature");
}

} // namespace balance
