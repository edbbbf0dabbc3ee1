#include "core/endpoint.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace balance {

namespace {

bool is_v4_mapped(const uint8_t* b) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b, prefix, 12) == 0;
}

endpoint from_in6(const in6_addr& a, uint16_t port) {
  endpoint ep;
  ep.port = port;
  if (is_v4_mapped(a.s6_addr)) {
    std::memcpy(ep.bytes.data(), a.s6_addr + 12, 4);
  } else {
    ep.v6 = true;
    std::memcpy(ep.bytes.data(), a.s6_addr, 16);
  }
  return ep;
}

} // namespace

std::string endpoint::address_text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string endpoint::to_string() const {
  auto addr = address_text();
  if (v6)
    addr = "[" + addr + "]";
  return addr + ":" + std::to_string(port);
}

endpoint from_sockaddr(const void* sa) {
  auto* base = static_cast<const sockaddr*>(sa);
  if (base->sa_family == AF_INET6) {
    auto* in6 = static_cast<const sockaddr_in6*>(sa);
    return from_in6(in6->sin6_addr, ntohs(in6->sin6_port));
  }
  auto* in4 = static_cast<const sockaddr_in*>(sa);
  endpoint ep;
  std::memcpy(ep.bytes.data(), &in4->sin_addr, 4);
  ep.port = ntohs(in4->sin_port);
  return ep;
}

unsigned to_sockaddr(const endpoint& ep, void* out) {
  if (ep.v6) {
    auto* in6 = static_cast<sockaddr_in6*>(out);
    *in6 = sockaddr_in6{};
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(ep.port);
    std::memcpy(&in6->sin6_addr, ep.bytes.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* in4 = static_cast<sockaddr_in*>(out);
  *in4 = sockaddr_in{};
  in4->sin_family = AF_INET;
  in4->sin_port = htons(ep.port);
  std::memcpy(&in4->sin_addr, ep.bytes.data(), 4);
  return sizeof(sockaddr_in);
}

std::optional<endpoint> parse_numeric_address(const std::string& text) {
  endpoint ep;
  in6_addr a6;
  if (inet_pton(AF_INET, text.c_str(), ep.bytes.data()) == 1)
    return ep;
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1)
    return from_in6(a6, 0);
  return std::nullopt;
}

std::optional<uint16_t> parse_port(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    if (text.size() > 5)
      return std::nullopt;
    auto value = std::stoul(text);
    if (value < 1 || value > 65535)
      return std::nullopt;
    return static_cast<uint16_t>(value);
  }
  if (auto* se = getservbyname(text.c_str(), "tcp"))
    return static_cast<uint16_t>(ntohs(static_cast<uint16_t>(se->s_port)));
  return std::nullopt;
}

std::optional<endpoint> resolve_host(const std::string& host, family fam,
                                     std::string& error) {
  if (host.empty()) {
    error = "empty host name";
    return std::nullopt;
  }
  if (auto ep = parse_numeric_address(host)) {
    if (fam == family::v4 && ep->v6) {
      error = "not an IPv4 address";
      return std::nullopt;
    }
    return ep;
  }
  addrinfo hints{};
  hints.ai_family = fam == family::v4   ? AF_INET
                    : fam == family::v6 ? AF_INET6
                                        : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return std::nullopt;
  }
  std::optional<endpoint> first, first_v4;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    auto ep = from_sockaddr(ai->ai_addr);
    ep.port = 0;
    if (!first)
      first = ep;
    if (!ep.v6 && !first_v4)
      first_v4 = ep;
  }
  freeaddrinfo(res);
  auto chosen = (fam == family::any && first_v4) ? first_v4 : first;
  if (!chosen)
    error = "no usable address";
  return chosen;
}

} // namespace balance
