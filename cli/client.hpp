// `balance -c CMD PORT` and `balance -i PORT`: find the instance, connect
// to its control actor through the middleman (with timeouts, never a hang),
// run 3.54's commands and print 3.54's texts.
#pragma once

#include "cli/options.hpp"

namespace balance::cli {

/// Runs -c or -i; returns the process exit code.
int run_control(const options& opts);

} // namespace balance::cli
