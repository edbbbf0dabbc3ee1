// A connected loopback TCP pair for tests of the relay's socket code.
#pragma once

#include <catch2/catch.hpp>

#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/// A connected loopback pair: `near` (non-blocking, for the watch) and
/// `far` (blocking, the test's end).
struct tcp_pair {
  int near = -1;
  int far = -1;

  tcp_pair() {
    int lst = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(::bind(lst, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(lst, 1) == 0);
    REQUIRE(::getsockname(lst, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    far = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(far, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    near = ::accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
    REQUIRE(near >= 0);
    ::close(lst);
  }
  ~tcp_pair() {
    if (far >= 0)
      ::close(far); // `near` belongs to the watch
  }
  void send(const char* text) {
    REQUIRE(::send(far, text, std::strlen(text), 0)
            == static_cast<ssize_t>(std::strlen(text)));
  }
};
