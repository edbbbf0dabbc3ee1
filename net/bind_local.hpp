// The local address of an outgoing connection (-B), for the data path's
// backend connects and the health checks alike.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/endpoint.hpp"

namespace balance::net {

/// Binds `fd` to `local`'s address, leaving the port to connect(); false
/// (errno set) if bind() failed. Without IP_BIND_ADDRESS_NO_PORT, bind()
/// would pick the port before the destination is known and every
/// outgoing connection would burn one of ~28k ephemeral ports.
inline bool bind_local_address(int fd, const endpoint& local) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  sockaddr_storage address{};
  auto without_port = local;
  without_port.port = 0;
  auto length = to_sockaddr(without_port, &address);
  return ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0;
}

} // namespace balance::net
