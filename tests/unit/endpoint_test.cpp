// Addresses and ports (core/endpoint.hpp): numeric parsing with v4-mapped
// folding, ports by number or service name, resolution and printing.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "core/endpoint.hpp"

using namespace balance;

TEST_CASE("an IPv4 address parses into four bytes", "[endpoint]") {
  auto ep = parse_numeric_address("10.1.2.3");
  REQUIRE(ep);
  CHECK_FALSE(ep->v6);
  CHECK(ep->address_size() == 4);
  CHECK(ep->bytes[0] == 10);
  CHECK(ep->bytes[1] == 1);
  CHECK(ep->bytes[2] == 2);
  CHECK(ep->bytes[3] == 3);
  CHECK(ep->port == 0);
  CHECK(ep->address_text() == "10.1.2.3");
}

TEST_CASE("an IPv6 address parses into sixteen bytes", "[endpoint]") {
  auto ep = parse_numeric_address("2001:DB8::1");
  REQUIRE(ep);
  CHECK(ep->v6);
  CHECK(ep->address_size() == 16);
  CHECK(ep->bytes[0] == 0x20);
  CHECK(ep->bytes[1] == 0x01);
  CHECK(ep->bytes[15] == 0x01);
  CHECK(ep->address_text() == "2001:db8::1"); // RFC 5952
}

TEST_CASE("a v4-mapped IPv6 address folds to IPv4", "[endpoint]") {
  auto mapped = parse_numeric_address("::ffff:10.1.1.3");
  auto plain = parse_numeric_address("10.1.1.3");
  REQUIRE(mapped);
  REQUIRE(plain);
  CHECK_FALSE(mapped->v6);
  CHECK(*mapped == *plain);
  CHECK(mapped->address_text() == "10.1.1.3");
  // A v4-compatible or other v6 address is not folded.
  auto other = parse_numeric_address("::10.1.1.3");
  REQUIRE(other);
  CHECK(other->v6);
}

TEST_CASE("what is not a numeric address is refused", "[endpoint]") {
  for (std::string bad : {"", "localhost", "10.1.2", "10.1.2.256", "1.2.3.4:80",
                          "[::1]", "::1::2", "2001:db8::g", " 10.0.0.1"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_numeric_address(bad));
  }
}

TEST_CASE("to_string prints a.b.c.d:port or [v6]:port", "[endpoint]") {
  auto v4 = *parse_numeric_address("192.0.2.1");
  v4.port = 8080;
  CHECK(v4.to_string() == "192.0.2.1:8080");
  auto v6 = *parse_numeric_address("::1");
  v6.port = 443;
  CHECK(v6.to_string() == "[::1]:443");
  CHECK(endpoint{}.to_string() == "0.0.0.0:0");
}

TEST_CASE("endpoints compare by family, address and port", "[endpoint]") {
  auto a = *parse_numeric_address("10.0.0.1");
  auto b = a;
  CHECK(a == b);
  b.port = 1;
  CHECK_FALSE(a == b);
  CHECK_FALSE(*parse_numeric_address("0.0.0.0")
              == *parse_numeric_address("::"));
}

TEST_CASE("from_sockaddr reads IPv4, IPv6 and folds v4-mapped", "[endpoint]") {
  sockaddr_in in4{};
  in4.sin_family = AF_INET;
  in4.sin_port = htons(1234);
  inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
  auto a = from_sockaddr(&in4);
  CHECK(a.to_string() == "127.0.0.1:1234");

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(5678);
  inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);
  auto b = from_sockaddr(&in6);
  CHECK(b.v6);
  CHECK(b.to_string() == "[2001:db8::5]:5678");

  inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
  in6.sin6_port = htons(1234);
  auto c = from_sockaddr(&in6);
  CHECK_FALSE(c.v6);
  CHECK(c == a);
}

TEST_CASE("to_sockaddr writes what from_sockaddr reads back", "[endpoint]") {
  for (auto text : {"127.0.0.5", "2001:db8::7", "::1"}) {
    auto ep = parse_numeric_address(text);
    REQUIRE(ep);
    ep->port = 8080;
    sockaddr_storage ss;
    std::memset(&ss, 0xAB, sizeof(ss)); // no stale byte may survive
    auto len = to_sockaddr(*ep, &ss);
    CHECK(ss.ss_family == (ep->v6 ? AF_INET6 : AF_INET));
    CHECK(len == (ep->v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)));
    if (ep->v6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
      CHECK(in6->sin6_flowinfo == 0);
      CHECK(in6->sin6_scope_id == 0);
    }
    CHECK(from_sockaddr(&ss) == *ep);
  }
}

TEST_CASE("a port is 1..65535 in digits or a tcp service name", "[endpoint]") {
  CHECK(parse_port("1") == uint16_t{1});
  CHECK(parse_port("80") == uint16_t{80});
  CHECK(parse_port("65535") == uint16_t{65535});
  CHECK(parse_port("08080") == uint16_t{8080});
  CHECK(parse_port("smtp") == uint16_t{25});
  CHECK(parse_port("pop3") == uint16_t{110});
  for (std::string bad : {"", "0", "00000", "65536", "99999", "123456", "80abc",
                          "-1", "+80", " 80", "nosuchservice"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_port(bad));
  }
}

TEST_CASE("resolve_host takes numeric addresses without a lookup",
          "[endpoint][resolve]") {
  std::string error;
  auto v4 = resolve_host("192.0.2.9", family::any, error);
  REQUIRE(v4);
  CHECK(v4->address_text() == "192.0.2.9");
  auto v6 = resolve_host("2001:db8::9", family::any, error);
  REQUIRE(v6);
  CHECK(v6->v6);
  auto mapped = resolve_host("::ffff:192.0.2.9", family::v4, error);
  REQUIRE(mapped);
  CHECK(*mapped == *v4);
}

TEST_CASE("resolve_host prefers IPv4 for localhost", "[endpoint][resolve]") {
  std::string error;
  auto ep = resolve_host("localhost", family::any, error);
  REQUIRE(ep);
  CHECK_FALSE(ep->v6);
  CHECK(ep->address_text() == "127.0.0.1");
  CHECK(ep->port == 0);
  auto v4 = resolve_host("localhost", family::v4, error);
  REQUIRE(v4);
  CHECK(v4->address_text() == "127.0.0.1");
}

TEST_CASE("resolve_host refuses an IPv6 literal when IPv4 is required",
          "[endpoint][resolve]") {
  std::string error;
  CHECK_FALSE(resolve_host("::1", family::v4, error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("resolve_host reports unknown and empty names",
          "[endpoint][resolve]") {
  std::string error;
  CHECK_FALSE(resolve_host("nosuchhost.invalid", family::any, error));
  CHECK_FALSE(error.empty());
  std::string empty_error;
  CHECK_FALSE(resolve_host("", family::any, empty_error));
  CHECK_FALSE(empty_error.empty());
}
