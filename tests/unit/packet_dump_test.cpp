// The -p dump format (core/packet_dump.hpp): 3.54's example, both
// arrows, EOF, escaping and the 80-column line breaks.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "core/packet_dump.hpp"

using balance::format_dump;
using balance::packet_dump;

namespace {

std::string dump(bool from_client, const std::string& data) {
  return format_dump(from_client, data.data(), data.size());
}

} // namespace

TEST_CASE("the dump reproduces 3.54's example byte for byte", "[packet_dump]") {
  const std::string data = "hello\\world\x01\xFF\r\n";
  REQUIRE(data.size() == 15);
  CHECK(dump(true, data) == "-> 15\nhello\\\\world\\01\\FF\\0D\\0A\n\n");
}

TEST_CASE("data from the destination is shown with -<", "[packet_dump]") {
  CHECK(dump(false, "abc") == "-< 3\nabc\n");
  CHECK(dump(true, "abc") == "-> 3\nabc\n");
}

TEST_CASE("EOF shows as a zero-length read with an empty line",
          "[packet_dump]") {
  CHECK(format_dump(true, nullptr, 0) == "-> 0\n\n");
  CHECK(format_dump(false, nullptr, 0) == "-< 0\n\n");
}

TEST_CASE("printable ASCII is shown as is, backslash doubled",
          "[packet_dump]") {
  std::string printable;
  for (int c = 0x20; c < 0x7f; ++c)
    if (c != '\\')
      printable += static_cast<char>(c);
  REQUIRE(printable.size() == 94);
  // 94 columns: one break after the 81st.
  CHECK(dump(true, printable)
        == "-> 94\n" + printable.substr(0, 81) + "\n" + printable.substr(81)
             + "\n");
  CHECK(dump(true, "\\") == "-> 1\n\\\\\n");
  CHECK(dump(true, "a\\\\b") == "-> 4\na\\\\\\\\b\n");
}

TEST_CASE("every other byte is a backslash and two uppercase hex digits", "[packet_dump]") {
  CHECK(dump(true, std::string(1, '\0')) == "-> 1\n\\00\n");
  CHECK(dump(true, "\x7f") == "-> 1\n\\7F\n");
  CHECK(dump(true, "\x1f") == "-> 1\n\\1F\n");
  CHECK(dump(true, "\x80\xab\xfe") == "-> 3\n\\80\\AB\\FE\n");
  CHECK(dump(true, "\t") == "-> 1\n\\09\n");
  CHECK(dump(true, "\r") == "-> 1\n\\0D\n");
  std::string bytes;
  for (int c = 0; c < 256; ++c)
    bytes += static_cast<char>(c);
  auto text = dump(false, bytes);
  CHECK(text.find("\\AB") != std::string::npos);
  CHECK(text.find("\\ab") == std::string::npos);
  CHECK(text.find("\\FF") != std::string::npos);
}

TEST_CASE("an escaped newline is followed by a line break", "[packet_dump]") {
  CHECK(dump(true, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        == "-> 27\nGET / HTTP/1.0\\0D\\0A\nHost: x\\0D\\0A\n\\0D\\0A\n\n");
  CHECK(dump(false, "\n\n") == "-< 2\n\\0A\n\\0A\n\n");
}

TEST_CASE("a line break follows once more than 80 columns were written",
          "[packet_dump]") {
  CHECK(dump(true, std::string(80, 'a'))
        == "-> 80\n" + std::string(80, 'a') + "\n");
  CHECK(dump(true, std::string(81, 'a'))
        == "-> 81\n" + std::string(81, 'a') + "\n\n");
  CHECK(dump(true, std::string(82, 'a'))
        == "-> 82\n" + std::string(81, 'a') + "\na\n");
  CHECK(dump(true, std::string(200, 'x'))
        == "-> 200\n" + std::string(81, 'x') + "\n" + std::string(81, 'x')
             + "\n" + std::string(38, 'x') + "\n");
}

TEST_CASE("escapes count three columns and doubled backslashes two",
          "[packet_dump]") {
  // 26 escapes = 78 columns, the 27th reaches 81 and breaks.
  std::string ones(28, '\x01');
  std::string esc;
  for (int i = 0; i < 27; ++i)
    esc += "\\01";
  CHECK(dump(true, ones) == "-> 28\n" + esc + "\n\\01\n");
  // 40 backslashes = 80 columns, the 41st reaches 82 and breaks.
  std::string slashes(42, '\\');
  CHECK(dump(true, slashes) == "-> 42\n" + std::string(82, '\\') + "\n\\\\\n");
}

TEST_CASE("a newline resets the column count", "[packet_dump]") {
  std::string data = std::string(70, 'a') + "\n" + std::string(70, 'b');
  CHECK(dump(true, data)
        == "-> 141\n" + std::string(70, 'a') + "\\0A\n" + std::string(70, 'b')
             + "\n");
}

TEST_CASE("the dump sink writes whole chunks in order", "[packet_dump]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    packet_dump sink{f};
    sink.write(true, "ping\n", 5);
    sink.write(false, "pong", 4);
    sink.write(true, nullptr, 0);
  }
  std::rewind(f);
  std::string got;
  char buf[256];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;)
    got.append(buf, n);
  std::fclose(f);
  CHECK(got == "-> 5\nping\\0A\n\n-< 4\npong\n-> 0\n\n");
}
