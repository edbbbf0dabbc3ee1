// Writing PROXY headers (core/proxy_header.hpp): v1 text, v2 binary.
#include "core/proxy_header.hpp"

#include <cstring>
#include <string_view>

#include "core/proxy_wire.hpp"

namespace balance {

using namespace proxy_wire;

namespace {

class writer {
public:
  explicit writer(proxy_header_bytes& out) : out_(out) {}
  void byte(uint8_t b) { out_.data[out_.size++] = b; }
  void bytes(const uint8_t* p, std::size_t n) {
    std::memcpy(out_.data.data() + out_.size, p, n);
    out_.size += n;
  }
  void text(std::string_view s) {
    bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  void be16(uint16_t v) {
    byte(static_cast<uint8_t>(v >> 8));
    byte(static_cast<uint8_t>(v & 0xff));
  }
  void decimal(unsigned v) {
    char digits[10];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v > 0);
    while (n > 0)
      byte(static_cast<uint8_t>(digits[--n]));
  }
  void hex(unsigned v) {
    static const char hexdigits[] = "0123456789abcdef";
    char digits[4];
    int n = 0;
    do {
      digits[n++] = hexdigits[v & 0xf];
      v >>= 4;
    } while (v > 0);
    while (n > 0)
      byte(static_cast<uint8_t>(digits[--n]));
  }

  void ipv4_text(const uint8_t* a) {
    for (int i = 0; i < 4; ++i) {
      if (i > 0)
        byte('.');
      decimal(a[i]);
    }
  }

  // RFC 5952 text in hex groups only: a v4-mapped address as ::ffff:a.b.c.d
  // (what inet_ntop writes) would put dots where the spec expects groups
  // of hex digits.
  void ipv6_text(const uint8_t* a) {
    unsigned groups[8];
    for (int i = 0; i < 8; ++i)
      groups[i] = static_cast<unsigned>(a[2 * i] << 8 | a[2 * i + 1]);
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
      int j = i;
      while (j < 8 && groups[j] == 0)
        ++j;
      if (j - i > best_len && j - i >= 2) {
        best = i;
        best_len = j - i;
      }
      i = j == i ? i + 1 : j;
    }
    for (int i = 0; i < 8; ++i) {
      if (i == best) {
        text("::");
        i += best_len - 1;
        continue;
      }
      if (i > 0 && i != best + best_len)
        byte(':');
      hex(groups[i]);
    }
  }

private:
  proxy_header_bytes& out_;
};

// The 16 bytes of `ep` as IPv6 (an IPv4 address v4-mapped).
std::array<uint8_t, 16> as_v6(const endpoint& ep) {
  if (ep.v6)
    return ep.bytes;
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), v4_mapped_prefix, 12);
  std::memcpy(out.data() + 12, ep.bytes.data(), 4);
  return out;
}

} // namespace

proxy_header_bytes encode_proxy_header(proxy_version version,
                                       const endpoint& source,
                                       const endpoint& destination) {
  proxy_header_bytes out;
  writer w(out);
  bool v6 = source.v6 || destination.v6;
  if (version == proxy_version::v1) {
    w.text(v6 ? "PROXY TCP6 " : "PROXY TCP4 ");
    for (auto* ep : {&source, &destination}) {
      if (v6)
        w.ipv6_text(as_v6(*ep).data());
      else
        w.ipv4_text(ep->bytes.data());
      w.byte(' ');
    }
    w.decimal(source.port);
    w.byte(' ');
    w.decimal(destination.port);
    w.text("\r\n");
  } else if (version == proxy_version::v2) {
    w.bytes(v2_signature, sizeof(v2_signature));
    w.byte(v2_version | cmd_proxy);
    w.byte(
      static_cast<uint8_t>((v6 ? fam_inet6 : fam_inet) << 4 | proto_stream));
    w.be16(static_cast<uint16_t>(v6 ? inet6_block : inet_block));
    if (v6) {
      w.bytes(as_v6(source).data(), 16);
      w.bytes(as_v6(destination).data(), 16);
    } else {
      w.bytes(source.bytes.data(), 4);
      w.bytes(destination.bytes.data(), 4);
    }
    w.be16(source.port);
    w.be16(destination.port);
  }
  return out;
}

proxy_header_bytes encode_proxy_local(proxy_version version) {
  proxy_header_bytes out;
  writer w(out);
  if (version == proxy_version::v1) {
    w.text("PROXY UNKNOWN\r\n");
  } else if (version == proxy_version::v2) {
    w.bytes(v2_signature, sizeof(v2_signature));
    w.byte(v2_version | cmd_local);
    w.byte(0x00); // AF_UNSPEC, UNSPEC: no address follows
    w.be16(0);
  }
  return out;
}

} // namespace balance
