// C escapes of --check-send and --check-expect.
#include <catch2/catch.hpp>

#include "core/escapes.hpp"

using namespace balance;

TEST_CASE("unescape_c turns the five escapes into bytes") {
  std::string error;
  CHECK(unescape_c("PING\\r\\n", error) == std::string("PING\r\n"));
  CHECK(unescape_c("a\\tb\\\\c", error) == std::string("a\tb\\c"));
  CHECK(unescape_c("\\x00\\xff\\x4A", error) == std::string("\0\xff\x4a", 3));
  CHECK(unescape_c("plain", error) == std::string("plain"));
}

TEST_CASE("unescape_c refuses unknown and incomplete escapes") {
  std::string error;
  CHECK_FALSE(unescape_c("a\\q", error));
  CHECK(error.find("\\q") != std::string::npos);
  CHECK_FALSE(unescape_c("abc\\", error));
  CHECK_FALSE(unescape_c("\\x4", error));
  CHECK_FALSE(unescape_c("\\xg0", error));
}

TEST_CASE("escape_c shows non-printable bytes and round-trips") {
  std::string bytes("OK\r\n\x01\\", 6);
  CHECK(escape_c(bytes) == "OK\\r\\n\\x01\\\\");
  std::string error;
  CHECK(unescape_c(escape_c(bytes), error) == bytes);
}
