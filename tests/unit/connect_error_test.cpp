// -a disables a channel for its own failures only, not for this host's.
#include <catch2/catch.hpp>

#include "net/connect_error.hpp"

using balance::net::is_local_connect_error;

TEST_CASE("local bind and connect errors are not the channel's fault",
          "[connect_error]") {
  for (int err : {EADDRNOTAVAIL, EADDRINUSE, EAFNOSUPPORT, EINVAL, ENOBUFS,
                  ENOMEM, EMFILE, ENFILE}) {
    CAPTURE(err);
    CHECK(is_local_connect_error(err));
  }
}

TEST_CASE("a channel that refuses, times out or cannot be reached is at "
          "fault",
          "[connect_error]") {
  for (int err : {ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH,
                  ECONNRESET, EHOSTDOWN}) {
    CAPTURE(err);
    CHECK_FALSE(is_local_connect_error(err));
  }
}
