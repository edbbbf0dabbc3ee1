// `balance [-b addr] top PORT` and `balance top --control host:port ...`:
// a live view of one instance or a fleet (cli/top.cpp).
#pragma once

#include "cli/options.hpp"

namespace balance::cli {

/// Runs top; returns the process exit code.
int run_top(const options& opts);

} // namespace balance::cli
