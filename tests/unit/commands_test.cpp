// The shell's command language (cli/commands.hpp): 3.54's prefix matching
// and order, strict numbers, and -c's `;` splitting.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "cli/commands.hpp"

using namespace balance::cli;

namespace {

command_kind kind_of(const std::string& line) {
  return parse_command(line).kind;
}

} // namespace

TEST_CASE("a blank line is an empty command", "[commands]") {
  CHECK(kind_of("") == command_kind::empty);
  CHECK(kind_of("   ") == command_kind::empty);
  CHECK(kind_of("\t \t") == command_kind::empty);
}

TEST_CASE("every command is recognised by its full name", "[commands]") {
  const std::vector<std::pair<std::string, command_kind>> full{
    {"quit", command_kind::quit},
    {"show", command_kind::show},
    {"help", command_kind::help},
    {"?", command_kind::help},
    {"kill", command_kind::kill},
    {"disable 0", command_kind::disable},
    {"group 0", command_kind::group},
    {"reset 0", command_kind::reset},
    {"enable 0", command_kind::enable},
    {"create 10.0.0.1 80", command_kind::create},
    {"assign 0 10.0.0.1 80", command_kind::assign},
    {"maxc 0 5", command_kind::maxc},
    {"mrtg-bytes 0 0", command_kind::mrtg_bytes},
    {"mrtg-conns 0 0", command_kind::mrtg_conns},
    {"version", command_kind::version},
    {"hash", command_kind::hash},
    {"rr", command_kind::rr},
    {"metrics", command_kind::metrics},
    {"drain", command_kind::drain},
    {"upgrade", command_kind::upgrade},
  };
  for (auto& [line, kind] : full) {
    CAPTURE(line);
    CHECK(kind_of(line) == kind);
  }
}

TEST_CASE("abbreviations match the first command in 3.54's order",
          "[commands]") {
  const std::vector<std::pair<std::string, command_kind>> abbrev{
    {"q", command_kind::quit},
    {"qu", command_kind::quit},
    {"s", command_kind::show},
    {"sh", command_kind::show},
    {"h", command_kind::help},
    {"he", command_kind::help},
    {"hea", command_kind::health},
    {"health", command_kind::health},
    {"k", command_kind::kill},
    {"d 1", command_kind::disable},
    {"dis 1", command_kind::disable},
    {"g 1", command_kind::group},
    {"r 1", command_kind::reset},
    {"res 1", command_kind::reset},
    {"rr", command_kind::rr},
    {"e 1", command_kind::enable},
    {"c 10.0.0.1 80", command_kind::create},
    {"a 0 10.0.0.1 80", command_kind::assign},
    {"m 0 5", command_kind::maxc},
    {"ma 0 5", command_kind::maxc},
    {"mr 0 0", command_kind::mrtg_bytes},
    {"mrtg 0 0", command_kind::mrtg_bytes},
    {"mrtg- 0 0", command_kind::mrtg_bytes},
    {"mrtg-b 0 0", command_kind::mrtg_bytes},
    {"mrtg-c 0 0", command_kind::mrtg_conns},
    {"v", command_kind::version},
    {"ha", command_kind::hash},
    {"me", command_kind::metrics},
    {"met", command_kind::metrics},
    // ours come last: `d` stays disable, `dr` is drain, `u` upgrade
    {"dr", command_kind::drain},
    {"u", command_kind::upgrade},
    {"up /usr/sbin/balance", command_kind::upgrade},
  };
  for (auto& [line, kind] : abbrev) {
    CAPTURE(line);
    CHECK(kind_of(line) == kind);
  }
}

TEST_CASE("the command names come in 3.54's matching order with ours last",
          "[commands]") {
  CHECK(command_names()
        == std::vector<std::string>{
          "quit", "show", "help", "?", "kill", "disable", "group", "reset",
          "enable", "create", "assign", "maxc", "mrtg-bytes", "mrtg-conns",
          "version", "hash", "rr", "metrics", "health", "drain", "upgrade"});
}

TEST_CASE("a word that is no command's prefix is a syntax error",
          "[commands]") {
  for (std::string bad : {"foo", "showx", "quitt", "x", "rrr", "mrtg-x 0 0",
                          "SHOW", "-1", "??"}) {
    CAPTURE(bad);
    CHECK(kind_of(bad) == command_kind::syntax_error);
  }
}

TEST_CASE("surrounding and inner whitespace does not matter", "[commands]") {
  auto cmd = parse_command("   disable     3   ");
  CHECK(cmd.kind == command_kind::disable);
  CHECK(cmd.first == 3);
  auto tabbed = parse_command("\tmaxc\t1\t9");
  CHECK(tabbed.kind == command_kind::maxc);
  CHECK(tabbed.first == 1);
  CHECK(tabbed.second == 9);
}

TEST_CASE("show json asks for JSON and plain show does not", "[commands]") {
  CHECK_FALSE(parse_command("show").json);
  auto json = parse_command("show json");
  CHECK(json.kind == command_kind::show);
  CHECK(json.json);
  CHECK(parse_command("s json").json);
}

TEST_CASE("channel commands take one channel number", "[commands]") {
  for (auto [word, kind] : std::vector<std::pair<std::string, command_kind>>{
         {"disable", command_kind::disable},
         {"enable", command_kind::enable},
         {"reset", command_kind::reset},
         {"group", command_kind::group}}) {
    CAPTURE(word);
    auto cmd = parse_command(word + " 12");
    CHECK(cmd.kind == kind);
    CHECK(cmd.first == 12);
    CHECK(kind_of(word) == command_kind::syntax_error);
    CHECK(kind_of(word + " abc") == command_kind::syntax_error);
    CHECK(kind_of(word + " 1x") == command_kind::syntax_error);
    CHECK(kind_of(word + " 1.5") == command_kind::syntax_error);
    CHECK(kind_of(word + " -") == command_kind::syntax_error);
    CHECK(kind_of(word + " +1") == command_kind::syntax_error);
  }
}

TEST_CASE("negative numbers parse as negative numbers", "[commands]") {
  auto dis = parse_command("disable -1");
  CHECK(dis.kind == command_kind::disable);
  CHECK(dis.first == -1);
  auto grp = parse_command("group -3");
  CHECK(grp.kind == command_kind::group);
  CHECK(grp.first == -3);
  auto maxc = parse_command("maxc 0 -5");
  CHECK(maxc.kind == command_kind::maxc);
  CHECK(maxc.second == -5);
}

TEST_CASE("numbers too long to be meant are a syntax error", "[commands]") {
  CHECK(parse_command("group 256").first == 256);
  CHECK(parse_command("disable 999999999999").first == 999999999999LL);
  CHECK(kind_of("disable 99999999999999999999999")
        == command_kind::syntax_error);
}

TEST_CASE("create takes a host and a port", "[commands]") {
  auto cmd = parse_command("create 10.1.1.9 8080");
  CHECK(cmd.kind == command_kind::create);
  CHECK(cmd.host == "10.1.1.9");
  CHECK(cmd.port == "8080");
  auto named = parse_command("create backend.example smtp");
  CHECK(named.host == "backend.example");
  CHECK(named.port == "smtp");
  CHECK(kind_of("create") == command_kind::syntax_error);
  CHECK(kind_of("create 10.1.1.9") == command_kind::syntax_error);
}

TEST_CASE("assign takes a channel number, a host and a port", "[commands]") {
  auto cmd = parse_command("assign 2 10.1.1.9 8080");
  CHECK(cmd.kind == command_kind::assign);
  CHECK(cmd.first == 2);
  CHECK(cmd.host == "10.1.1.9");
  CHECK(cmd.port == "8080");
  CHECK(kind_of("assign") == command_kind::syntax_error);
  CHECK(kind_of("assign 2") == command_kind::syntax_error);
  CHECK(kind_of("assign 2 10.1.1.9") == command_kind::syntax_error);
  CHECK(kind_of("assign x 10.1.1.9 80") == command_kind::syntax_error);
}

TEST_CASE("maxc takes a channel and a limit", "[commands]") {
  auto cmd = parse_command("maxc 3 16");
  CHECK(cmd.kind == command_kind::maxc);
  CHECK(cmd.first == 3);
  CHECK(cmd.second == 16);
  CHECK(kind_of("maxc") == command_kind::syntax_error);
  CHECK(kind_of("maxc 3") == command_kind::syntax_error);
  CHECK(kind_of("maxc abc 3") == command_kind::syntax_error);
  CHECK(kind_of("maxc 3 abc") == command_kind::syntax_error);
}

TEST_CASE("mrtg commands take a group and a channel", "[commands]") {
  auto bytes = parse_command("mrtg-bytes 1 2");
  CHECK(bytes.kind == command_kind::mrtg_bytes);
  CHECK(bytes.first == 1);
  CHECK(bytes.second == 2);
  auto conns = parse_command("mrtg-conns 3 4");
  CHECK(conns.kind == command_kind::mrtg_conns);
  CHECK(conns.first == 3);
  CHECK(conns.second == 4);
  CHECK(kind_of("mrtg-bytes") == command_kind::syntax_error);
  CHECK(kind_of("mrtg-bytes 1") == command_kind::syntax_error);
  CHECK(kind_of("mrtg-conns 1 x") == command_kind::syntax_error);
  CHECK(kind_of("mrtg-conns y 1") == command_kind::syntax_error);
}

TEST_CASE("commands without arguments ignore trailing words", "[commands]") {
  CHECK(kind_of("quit now") == command_kind::quit);
  CHECK(kind_of("version please") == command_kind::version);
  CHECK(kind_of("hash 3") == command_kind::hash);
  CHECK(kind_of("rr 3") == command_kind::rr);
}

TEST_CASE(
  "split_commands cuts -c's argument at each semicolon and trims each part",
  "[commands]") {
  CHECK(split_commands("group 1; disable 0")
        == std::vector<std::string>{"group 1", "disable 0"});
  CHECK(split_commands("show") == std::vector<std::string>{"show"});
  CHECK(split_commands("  show  ") == std::vector<std::string>{"show"});
  CHECK(split_commands("group 1 ;disable 0;  enable 2 ")
        == std::vector<std::string>{"group 1", "disable 0", "enable 2"});
  CHECK(split_commands("\tshow\t;\nversion\n")
        == std::vector<std::string>{"show", "version"});
}

TEST_CASE("split_commands drops empty parts", "[commands]") {
  CHECK(split_commands("").empty());
  CHECK(split_commands(";").empty());
  CHECK(split_commands(" ; ;; ").empty());
  CHECK(split_commands("show;;version;")
        == std::vector<std::string>{"show", "version"});
}

TEST_CASE("each split part parses on its own", "[commands]") {
  auto parts = split_commands("group 1; disable 0; mrtg-c 1 0");
  REQUIRE(parts.size() == 3);
  CHECK(parse_command(parts[0]).kind == command_kind::group);
  CHECK(parse_command(parts[0]).first == 1);
  CHECK(parse_command(parts[1]).kind == command_kind::disable);
  CHECK(parse_command(parts[1]).first == 0);
  CHECK(parse_command(parts[2]).kind == command_kind::mrtg_conns);
}

TEST_CASE("upgrade takes an optional path, the rest of the line",
          "[commands]") {
  CHECK(parse_command("upgrade").path.empty());
  CHECK(parse_command("  upgrade   ").path.empty());
  CHECK(parse_command("upgrade /usr/sbin/balance").path
        == "/usr/sbin/balance");
  CHECK(parse_command("upgrade  /opt/my balance/bin  ").path
        == "/opt/my balance/bin");
  CHECK(parse_command("u\t./balance").path == "./balance");
  auto split = split_commands("disable 1; upgrade /tmp/b; show");
  REQUIRE(split.size() == 3);
  CHECK(parse_command(split[1]).path == "/tmp/b");
}
