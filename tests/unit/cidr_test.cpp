// Address ranges for --accept-proxy (core/cidr.hpp): parsing, host bits,
// v4-mapped ranges, lists, and matching by family.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/cidr.hpp"

using namespace balance;

namespace {

endpoint addr(const std::string& text) {
  auto e = parse_numeric_address(text);
  REQUIRE(e);
  return *e;
}

} // namespace

TEST_CASE("a CIDR range holds the addresses under its prefix", "[cidr]") {
  auto r = parse_cidr("10.0.0.0/8");
  REQUIRE(r);
  CHECK(r->to_string() == "10.0.0.0/8");
  CHECK(r->contains(addr("10.0.0.0")));
  CHECK(r->contains(addr("10.255.255.255")));
  CHECK_FALSE(r->contains(addr("11.0.0.0")));
  CHECK_FALSE(r->contains(addr("9.255.255.255")));
}

TEST_CASE("prefixes that end inside a byte compare those bits only", "[cidr]") {
  auto r = parse_cidr("192.168.4.0/22");
  REQUIRE(r);
  CHECK(r->contains(addr("192.168.4.1")));
  CHECK(r->contains(addr("192.168.7.255")));
  CHECK_FALSE(r->contains(addr("192.168.8.0")));
  CHECK_FALSE(r->contains(addr("192.168.3.255")));
  auto v6 = parse_cidr("2001:db8::/33");
  REQUIRE(v6);
  CHECK(v6->contains(addr("2001:db8:7fff::1")));
  CHECK_FALSE(v6->contains(addr("2001:db8:8000::1")));
}

TEST_CASE("a bare address is a range of one", "[cidr]") {
  auto r = parse_cidr("127.0.0.2");
  REQUIRE(r);
  CHECK(r->prefix == 32);
  CHECK(r->contains(addr("127.0.0.2")));
  CHECK_FALSE(r->contains(addr("127.0.0.1")));
  auto v6 = parse_cidr("::1");
  REQUIRE(v6);
  CHECK(v6->prefix == 128);
  CHECK(v6->contains(addr("::1")));
}

TEST_CASE("prefix zero holds every address of its family only", "[cidr]") {
  auto all4 = parse_cidr("0.0.0.0/0");
  auto all6 = parse_cidr("::/0");
  REQUIRE(all4);
  REQUIRE(all6);
  CHECK(all4->contains(addr("203.0.113.9")));
  CHECK_FALSE(all4->contains(addr("2001:db8::1")));
  CHECK(all6->contains(addr("2001:db8::1")));
  // An IPv4 client seen v4-mapped is folded to IPv4: an IPv6 range does
  // not hold it.
  CHECK_FALSE(all6->contains(addr("::ffff:10.0.0.1")));
  CHECK(all4->contains(addr("::ffff:10.0.0.1")));
}

TEST_CASE("host bits are cleared as HAProxy and nginx read them", "[cidr]") {
  auto r = parse_cidr("10.1.2.3/8");
  REQUIRE(r);
  CHECK(r->to_string() == "10.0.0.0/8");
  CHECK(r->contains(addr("10.9.9.9")));
}

TEST_CASE("a v4-mapped range is the IPv4 range it maps", "[cidr]") {
  auto r = parse_cidr("::ffff:10.0.0.0/104");
  REQUIRE(r);
  CHECK_FALSE(r->v6);
  CHECK(r->prefix == 8);
  CHECK(r->contains(addr("10.1.1.1")));
  CHECK_FALSE(parse_cidr("::ffff:10.0.0.0/95"));
  CHECK(parse_cidr("::ffff:10.0.0.1")->prefix == 32);
}

TEST_CASE("what is not a CIDR range is refused", "[cidr]") {
  for (const std::string& bad : std::vector<std::string>{
         "", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1",
         "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/8/8", "10.0.0.0/ 8",
         " 10.0.0.0/8", "10.0.0/8", "localhost", "10.0.0.0/1000", "10.0.0.0/8,",
         "[::1]/128"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_cidr(bad));
  }
}

TEST_CASE("a list of ranges is comma separated and names a bad entry",
          "[cidr]") {
  std::string bad;
  auto list = parse_cidr_list("127.0.0.0/8,::1,192.0.2.0/24", bad);
  REQUIRE(list);
  CHECK(list->size() == 3);
  CHECK(any_contains(*list, addr("127.0.0.5")));
  CHECK(any_contains(*list, addr("::1")));
  CHECK(any_contains(*list, addr("192.0.2.200")));
  CHECK_FALSE(any_contains(*list, addr("198.51.100.1")));
  CHECK_FALSE(any_contains({}, addr("127.0.0.1")));

  CHECK_FALSE(parse_cidr_list("127.0.0.0/8,10.0.0.0/33", bad));
  CHECK(bad == "10.0.0.0/33");
  CHECK_FALSE(parse_cidr_list("127.0.0.0/8,", bad));
  CHECK(bad.empty());
  CHECK_FALSE(parse_cidr_list("", bad));
  CHECK_FALSE(parse_cidr_list("127.0.0.1,,::1", bad));
}
