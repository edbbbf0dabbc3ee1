// The health-check options (--check-interval, --check-timeout, --rise,
// --fall, --check-send, --check-expect, --observe, --on-down): their
// getopt entries, parsing and the checks between them. Long options only,
// so that no 3.54 letter changes meaning.
#pragma once

#include <getopt.h>

#include <optional>
#include <string>

#include "cli/options.hpp"

namespace balance::cli {

/// getopt_long's values for these options (beyond options.cpp's own).
enum check_option : int {
  opt_check_interval = 1100,
  opt_check_timeout,
  opt_rise,
  opt_fall,
  opt_check_send,
  opt_check_expect,
  opt_observe,
  opt_on_down,
};

/// Their entries for getopt_long's table.
extern const option check_long_options[8];

/// Applies one of them; an error names the bad argument.
std::optional<parse_error> apply_check_option(int opt, const std::string& arg,
                                              options& opts);

/// Once every option is in: the checks between them, and the defaults
/// that depend on others (--check-timeout on -t).
std::optional<parse_error> finish_check_options(options& opts);

/// `text` as whole or fractional seconds ("2", "0.5", at most three
/// decimals) up to `max_seconds`; nullopt if it is not one.
std::optional<std::chrono::milliseconds> parse_seconds(const std::string& text,
                                                       unsigned max_seconds);

} // namespace balance::cli
