// The shell's command language: one line to one command, matched by prefix
// in 3.54's order (so `s` is show, `h` help, `r` reset, `m` maxc, `mrtg`
// mrtg-bytes), numbers parsed strictly. Pure, unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace balance::cli {

enum class command_kind {
  empty, ///< blank line
  syntax_error,
  quit,
  show,
  help,
  kill,
  disable,
  group,
  reset,
  enable,
  create,
  assign,
  maxc,
  mrtg_bytes,
  mrtg_conns,
  version,
  hash,
  rr,
  // ours, after 3.54's so no old abbreviation changes meaning
  metrics,
  health,
  drain,
  upgrade,
};

struct command {
  command_kind kind = command_kind::empty;
  bool json = false;  ///< show json
  int64_t first = 0;  ///< channel, group or maxc's channel
  int64_t second = 0; ///< maxc value, mrtg channel
  std::string host;   ///< create, assign
  std::string port;   ///< create, assign
  std::string path;   ///< upgrade: the new binary ("" = the running one)
};

/// Parses one command line (without the `;` splitting).
command parse_command(const std::string& line);

/// Splits a -c argument at `;` into single commands, trimmed.
std::vector<std::string> split_commands(const std::string& argument);

/// The command names in matching order (help prints them).
const std::vector<std::string>& command_names();

} // namespace balance::cli
