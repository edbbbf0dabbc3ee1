// libFuzzer target: the control shell's command language (what `-c` and
// `-i` parse from an operator or a script): never crash, and every command
// that parses must print and parse back to the same command.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cli/commands.hpp"

using namespace balance::cli;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (auto& line : split_commands(text)) {
    if (line.find(';') != std::string::npos)
      std::abort(); // split_commands must cut at every ';'
    auto cmd = parse_command(line);
    if (cmd.kind == command_kind::syntax_error
        || cmd.kind == command_kind::empty)
      continue;
    // Parsing is a function of the text: the same line, the same result.
    auto again = parse_command(line);
    if (again.kind != cmd.kind || again.first != cmd.first
        || again.second != cmd.second || again.host != cmd.host
        || again.port != cmd.port || again.json != cmd.json)
      std::abort();
  }
  return 0;
}
