// Over 300 lines: the encoder and the decoder of both PROXY protocol
// versions, each rule of the spec a case.
// The PROXY protocol (core/proxy_header.hpp) against HAProxy's
// doc/proxy-protocol.txt: the exact bytes written, and what the decoder
// makes of whole, partial, broken and hostile headers.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/proxy_header.hpp"

using namespace balance;
using namespace std::string_literals;

namespace {

endpoint ep(const std::string& addr, uint16_t port) {
  auto e = parse_numeric_address(addr);
  REQUIRE(e);
  e->port = port;
  return *e;
}

std::string text(const proxy_header_bytes& h) {
  return std::string(reinterpret_cast<const char*>(h.data.data()), h.size);
}

std::vector<uint8_t> bytes(const proxy_header_bytes& h) {
  return std::vector<uint8_t>(h.data.begin(), h.data.begin() + h.size);
}

std::vector<uint8_t> bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

proxy_decoded decode(const std::vector<uint8_t>& b) {
  return decode_proxy_header(b.data(), b.size());
}

proxy_decoded decode(const std::string& s) {
  return decode(bytes(s));
}

const std::vector<uint8_t> v2_sig = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                     0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

std::vector<uint8_t> v2(uint8_t ver_cmd, uint8_t fam,
                        std::vector<uint8_t> block) {
  auto out = v2_sig;
  out.push_back(ver_cmd);
  out.push_back(fam);
  out.push_back(static_cast<uint8_t>(block.size() >> 8));
  out.push_back(static_cast<uint8_t>(block.size() & 0xff));
  out.insert(out.end(), block.begin(), block.end());
  return out;
}

} // namespace

// -- writing ------------------------------------------------------------------

TEST_CASE("a v1 header for IPv4 is the spec's TCP4 line", "[proxy]") {
  auto h = encode_proxy_header(proxy_version::v1, ep("192.168.0.1", 56324),
                               ep("192.168.0.11", 443));
  CHECK(text(h) == "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
}

TEST_CASE("a v1 header for IPv6 is a TCP6 line in hex groups", "[proxy]") {
  auto h = encode_proxy_header(proxy_version::v1, ep("2001:db8::1", 1),
                               ep("::1", 65535));
  CHECK(text(h) == "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
  auto full = encode_proxy_header(
    proxy_version::v1, ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
    ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
  CHECK(full.size == 104); // the spec's longest TCP6 line
}

TEST_CASE("IPv6 text compresses the first longest zero run only", "[proxy]") {
  auto line = [](const std::string& a) {
    auto h = encode_proxy_header(proxy_version::v1, ep(a, 1), ep("::", 2));
    return text(h);
  };
  CHECK(line("1:0:0:2:0:0:0:3") == "PROXY TCP6 1:0:0:2::3 :: 1 2\r\n");
  CHECK(line("1:0:2:3:4:5:6:7") == "PROXY TCP6 1:0:2:3:4:5:6:7 :: 1 2\r\n");
  CHECK(line("1:2:3:4:5:6:7::") == "PROXY TCP6 1:2:3:4:5:6:7:0 :: 1 2\r\n");
  CHECK(line("0:0:1::") == "PROXY TCP6 0:0:1:: :: 1 2\r\n");
  CHECK(line("abcd:ef01::") == "PROXY TCP6 abcd:ef01:: :: 1 2\r\n");
}

TEST_CASE("a v4-mapped client gives a TCP4 header with plain IPv4", "[proxy]") {
  // The dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; endpoints
  // fold them, so the header is TCP4.
  auto h = encode_proxy_header(proxy_version::v1, ep("::ffff:10.1.2.3", 4000),
                               ep("::ffff:127.0.0.1", 80));
  CHECK(text(h) == "PROXY TCP4 10.1.2.3 127.0.0.1 4000 80\r\n");
  auto b = encode_proxy_header(proxy_version::v2, ep("::ffff:10.1.2.3", 4000),
                               ep("::ffff:127.0.0.1", 80));
  CHECK(b.data[13] == 0x11);
}

TEST_CASE("mixed families are written as TCP6 with the IPv4 side mapped",
          "[proxy]") {
  auto h = encode_proxy_header(proxy_version::v1, ep("10.0.0.1", 1),
                               ep("2001:db8::2", 2));
  CHECK(text(h) == "PROXY TCP6 ::ffff:a00:1 2001:db8::2 1 2\r\n");
}

TEST_CASE("a v2 header for IPv4 is 28 bytes with family byte 0x11", "[proxy]") {
  auto h = encode_proxy_header(proxy_version::v2, ep("192.168.0.1", 56324),
                               ep("192.168.0.11", 443));
  std::vector<uint8_t> want = v2_sig;
  want.insert(want.end(), {0x21, 0x11, 0x00, 0x0C, // PROXY, TCP4, 12
                           192, 168, 0, 1, 192, 168, 0, 11, 0xDC, 0x04, 0x01,
                           0xBB}); // 56324, 443
  CHECK(bytes(h) == want);
}

TEST_CASE("a v2 header for IPv6 is 52 bytes with family byte 0x21", "[proxy]") {
  auto h = encode_proxy_header(proxy_version::v2, ep("2001:db8::1", 1),
                               ep("::1", 2));
  REQUIRE(h.size == 52);
  CHECK(std::vector<uint8_t>(h.data.begin(), h.data.begin() + 12) == v2_sig);
  CHECK(h.data[12] == 0x21);
  CHECK(h.data[13] == 0x21);
  CHECK(h.data[14] == 0x00);
  CHECK(h.data[15] == 36);
  CHECK(h.data[16] == 0x20);
  CHECK(h.data[17] == 0x01);
  CHECK(h.data[31] == 0x01);
  CHECK(h.data[47] == 0x01);
  CHECK(h.data[48] == 0x00);
  CHECK(h.data[49] == 0x01);
  CHECK(h.data[50] == 0x00);
  CHECK(h.data[51] == 0x02);
}

TEST_CASE("the header of a check is PROXY UNKNOWN or a v2 LOCAL", "[proxy]") {
  CHECK(text(encode_proxy_local(proxy_version::v1)) == "PROXY UNKNOWN\r\n");
  auto want = v2_sig;
  want.insert(want.end(), {0x20, 0x00, 0x00, 0x00});
  CHECK(bytes(encode_proxy_local(proxy_version::v2)) == want);
  CHECK(encode_proxy_local(proxy_version::none).size == 0);
  CHECK(
    encode_proxy_header(proxy_version::none, ep("1.2.3.4", 1), ep("1.2.3.4", 2))
      .size
    == 0);
}

TEST_CASE("every header written decodes to what it says", "[proxy]") {
  std::vector<std::pair<endpoint, endpoint>> pairs = {
    {ep("1.2.3.4", 0), ep("255.255.255.255", 65535)},
    {ep("2001:db8::1", 1234), ep("fe80::1:2", 80)},
    {ep("10.0.0.1", 7), ep("2001:db8::2", 9)},
  };
  for (auto version : {proxy_version::v1, proxy_version::v2}) {
    for (auto& [src, dst] : pairs) {
      auto h = encode_proxy_header(version, src, dst);
      auto d = decode_proxy_header(h.data.data(), h.size);
      CAPTURE(text(h));
      REQUIRE(d.status == proxy_parse::done);
      CHECK(d.consumed == h.size);
      CHECK(d.version == version);
      REQUIRE(d.addresses);
      CHECK(d.addresses->source == src);
      CHECK(d.addresses->destination == dst);
    }
    auto local = encode_proxy_local(version);
    auto d = decode_proxy_header(local.data.data(), local.size);
    CHECK(d.status == proxy_parse::done);
    CHECK(d.consumed == local.size);
    CHECK_FALSE(d.addresses);
  }
}

// -- reading v1 ---------------------------------------------------------------

TEST_CASE("a v1 header is consumed up to its CRLF and no further", "[proxy]") {
  auto d = decode("PROXY TCP4 10.0.0.9 10.0.0.1 5000 80\r\nGET / HTTP/1.0\r\n");
  REQUIRE(d.status == proxy_parse::done);
  CHECK(d.consumed == 38);
  CHECK(d.version == proxy_version::v1);
  REQUIRE(d.addresses);
  CHECK(d.addresses->source == ep("10.0.0.9", 5000));
  CHECK(d.addresses->destination == ep("10.0.0.1", 80));
}

TEST_CASE("a v1 header arriving in pieces needs more until its CRLF",
          "[proxy]") {
  std::string line = "PROXY TCP6 2001:db8::9 2001:db8::1 5000 80\r\n";
  for (std::size_t n = 0; n < line.size(); ++n) {
    CAPTURE(n);
    CHECK(decode(line.substr(0, n)).status == proxy_parse::need_more);
  }
  auto d = decode(line);
  REQUIRE(d.status == proxy_parse::done);
  CHECK(d.addresses->source == ep("2001:db8::9", 5000));
}

TEST_CASE("v1 UNKNOWN is accepted and leaves the real addresses", "[proxy]") {
  for (const std::string& line : std::vector<std::string>{
         "PROXY UNKNOWN\r\n", "PROXY UNKNOWN whatever follows here\r\n",
         "PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n"}) {
    CAPTURE(line);
    auto d = decode(line + "data");
    REQUIRE(d.status == proxy_parse::done);
    CHECK(d.consumed == line.size());
    CHECK_FALSE(d.addresses);
  }
}

TEST_CASE("a v4-mapped TCP6 source in a v1 header folds to IPv4", "[proxy]") {
  auto d = decode("PROXY TCP6 ::ffff:10.9.8.7 ::1 1 2\r\n");
  REQUIRE(d.status == proxy_parse::done);
  CHECK_FALSE(d.addresses->source.v6);
  CHECK(d.addresses->source == ep("10.9.8.7", 1));
}

TEST_CASE("a broken v1 header is malformed", "[proxy]") {
  for (const std::string& bad : std::vector<std::string>{
         "PROXY TCP4 10.0.0.9 10.0.0.1 5000 80\n",    // LF alone
         "PROXY TCP4 10.0.0.9 10.0.0.1 5000 80\rX",   // CR alone
         "PROXY TCP4 10.0.0.9\n",                     // LF first
         "PROXY  TCP4 10.0.0.9 10.0.0.1 5000 80\r\n", // two spaces
         "PROXY TCP4 10.0.0.9  10.0.0.1 5000 80\r\n",
         "PROXY TCP4 10.0.0.9 10.0.0.1 5000 80 \r\n",  // trailing space
         "PROXY TCP4 10.0.0.9 10.0.0.1 5000\r\n",      // a field short
         "PROXY TCP4 10.0.0.9 10.0.0.1 5000 80 9\r\n", // a field more
         "PROXY TCP5 10.0.0.9 10.0.0.1 5000 80\r\n",   // protocol
         "PROXY tcp4 10.0.0.9 10.0.0.1 5000 80\r\n",
         "PROXY TCP4 010.0.0.9 10.0.0.1 5000 80\r\n",  // leading zero
         "PROXY TCP4 10.0.0.256 10.0.0.1 5000 80\r\n", // octet > 255
         "PROXY TCP4 10.0.0 10.0.0.1 5000 80\r\n",     // three octets
         "PROXY TCP4 10.0.0.9.1 10.0.0.1 5000 80\r\n", // five
         "PROXY TCP4 ::1 10.0.0.1 5000 80\r\n",        // family mismatch
         "PROXY TCP6 10.0.0.9 ::1 5000 80\r\n",
         "PROXY TCP6 ::1::2 ::1 5000 80\r\n",
         "PROXY TCP4 10.0.0.9 10.0.0.1 05000 80\r\n", // port zero-led
         "PROXY TCP4 10.0.0.9 10.0.0.1 65536 80\r\n", // port > 65535
         "PROXY TCP4 10.0.0.9 10.0.0.1 -1 80\r\n",
         "PROXY TCP4 10.0.0.9 10.0.0.1 +80 80\r\n",
         "PROXY\r\n",
         "PROXY \r\n",
         "PROXYTCP4\r\n",
         "PROXY UNKNOWNX\r\n",
         "PROXY TCP4 10.0.0.9 10.0.0.1 5000 80\0\r\n"s,
       }) {
    CAPTURE(bad);
    auto d = decode(std::vector<uint8_t>(bad.begin(), bad.end()));
    CHECK(d.status == proxy_parse::malformed);
    CHECK(d.error != nullptr);
  }
}

TEST_CASE("a v1 line without CRLF in 107 bytes is malformed", "[proxy]") {
  std::string head = "PROXY UNKNOWN ";
  std::string line = head + std::string(proxy_v1_max - head.size() - 2, 'x');
  CHECK(decode(line + "\r\n").status == proxy_parse::done); // 107: fits
  CHECK(decode(line + "x").status == proxy_parse::need_more);
  CHECK(decode(line + "x\r").status == proxy_parse::malformed);
  CHECK(decode(line + "x\r\n").status == proxy_parse::malformed);
  CHECK(decode(line + std::string(500, 'x')).status == proxy_parse::malformed);
}

TEST_CASE("the longest v1 lines the spec allows decode", "[proxy]") {
  auto d = decode("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
  REQUIRE(d.status == proxy_parse::done);
  CHECK(d.consumed == 56);
  std::string f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  auto d6 = decode("PROXY TCP6 " + f + " " + f + " 65535 65535\r\n");
  REQUIRE(d6.status == proxy_parse::done);
  CHECK(d6.consumed == 104);
}

// -- reading v2 ---------------------------------------------------------------

TEST_CASE("a v2 header is consumed to its length, TLVs included", "[proxy]") {
  std::vector<uint8_t> block = {
    10,   0, 0,  9,    10,   0,    0,    1,   0x13,
    0x88, 0, 80, 0x04, 0x00, 0x02, 0xAA, 0xBB}; // NOOP TLV
  auto h = v2(0x21, 0x11, block);
  h.insert(h.end(), {'G', 'E', 'T'});
  auto d = decode(h);
  REQUIRE(d.status == proxy_parse::done);
  CHECK(d.consumed == 16 + block.size());
  CHECK(d.version == proxy_version::v2);
  REQUIRE(d.addresses);
  CHECK(d.addresses->source == ep("10.0.0.9", 5000));
  CHECK(d.addresses->destination == ep("10.0.0.1", 80));
}

TEST_CASE("a v2 header arriving in pieces needs more until its end",
          "[proxy]") {
  auto h = encode_proxy_header(proxy_version::v2, ep("2001:db8::9", 5000),
                               ep("2001:db8::1", 80));
  for (std::size_t n = 0; n < h.size; ++n) {
    CAPTURE(n);
    CHECK(decode_proxy_header(h.data.data(), n).status
          == proxy_parse::need_more);
  }
  CHECK(decode_proxy_header(h.data.data(), h.size).status == proxy_parse::done);
}

TEST_CASE("v2 LOCAL is accepted whatever its block says", "[proxy]") {
  auto d = decode(v2(0x20, 0x11, {}));
  REQUIRE(d.status == proxy_parse::done);
  CHECK(d.consumed == 16);
  CHECK_FALSE(d.addresses);
  auto with_block = decode(v2(0x20, 0x11, std::vector<uint8_t>(12, 1)));
  REQUIRE(with_block.status == proxy_parse::done);
  CHECK(with_block.consumed == 28);
  CHECK_FALSE(with_block.addresses);
  CHECK(decode(v2(0x20, 0xFF, {})).status == proxy_parse::done);
}

TEST_CASE("v2 families other than TCP leave the real addresses", "[proxy]") {
  for (uint8_t fam : {0x00, 0x12, 0x22, 0x31, 0x32, 0x10, 0x01}) {
    CAPTURE(int(fam));
    auto d = decode(v2(0x21, fam, std::vector<uint8_t>(216, 0)));
    REQUIRE(d.status == proxy_parse::done);
    CHECK(d.consumed == 232);
    CHECK_FALSE(d.addresses);
  }
}

TEST_CASE("a v2 IPv6 block with v4-mapped addresses folds them", "[proxy]") {
  std::vector<uint8_t> block(36, 0);
  block[10] = block[11] = 0xff;
  block[12] = 10, block[13] = 1, block[14] = 2, block[15] = 3;
  block[26] = block[27] = 0xff;
  block[28] = 127, block[31] = 1;
  block[33] = 7, block[35] = 8;
  auto d = decode(v2(0x21, 0x21, block));
  REQUIRE(d.status == proxy_parse::done);
  CHECK(d.addresses->source == ep("10.1.2.3", 7));
  CHECK(d.addresses->destination == ep("127.0.0.1", 8));
}

TEST_CASE("a broken v2 header is malformed", "[proxy]") {
  auto twelve = std::vector<uint8_t>(12, 0);
  CHECK(decode(v2(0x11, 0x11, twelve)).status == proxy_parse::malformed);
  CHECK(decode(v2(0x31, 0x11, twelve)).status == proxy_parse::malformed);
  CHECK(decode(v2(0x22, 0x11, twelve)).status == proxy_parse::malformed);
  CHECK(decode(v2(0x2F, 0x11, twelve)).status == proxy_parse::malformed);
  CHECK(decode(v2(0x21, 0x41, twelve)).status == proxy_parse::malformed);
  CHECK(decode(v2(0x21, 0x13, twelve)).status == proxy_parse::malformed);
  // Blocks too short for their family, decided from the length field alone.
  CHECK(decode(v2(0x21, 0x11, std::vector<uint8_t>(11, 0))).status
        == proxy_parse::malformed);
  CHECK(decode(v2(0x21, 0x21, std::vector<uint8_t>(35, 0))).status
        == proxy_parse::malformed);
  CHECK(decode(v2(0x21, 0x31, std::vector<uint8_t>(215, 0))).status
        == proxy_parse::malformed);
}

TEST_CASE("a v2 header longer than 536 bytes is refused before it arrives",
          "[proxy]") {
  auto fixed = v2_sig;
  fixed.insert(fixed.end(), {0x21, 0x11, 0x02, 0x09}); // 16 + 521 = 537
  auto d = decode(fixed);
  CHECK(d.status == proxy_parse::malformed);
  auto fits = v2(0x21, 0x11, std::vector<uint8_t>(520, 0));
  CHECK(decode(fits).status == proxy_parse::done);
  fixed[14] = 0xFF, fixed[15] = 0xFF;
  CHECK(decode(fixed).status == proxy_parse::malformed);
}

// -- neither ------------------------------------------------------------------

TEST_CASE("bytes that begin like a signature need more", "[proxy]") {
  for (const std::string& prefix :
       std::vector<std::string>{"", "P", "PR", "PRO", "PROX", "PROXY"})
    CHECK(decode(prefix).status == proxy_parse::need_more);
  for (std::size_t n = 1; n < 16; ++n)
    CHECK(decode(
            std::vector<uint8_t>(v2_sig.begin(),
                                 v2_sig.begin() + std::min<std::size_t>(n, 12)))
            .status
          == proxy_parse::need_more);
}

TEST_CASE("data that is no PROXY header is malformed at once", "[proxy]") {
  for (const std::string& other : std::vector<std::string>{
         "GET / HTTP/1.1\r\n", "proxy TCP4", "PROXX", "\r\n\r\n\x01",
         std::string("\x16\x03\x01", 3), "X"}) {
    CAPTURE(other);
    auto d = decode(other);
    CHECK(d.status == proxy_parse::malformed);
  }
}
