// `balance -c CMD PORT` and `balance -i PORT`: find the instance (its
// rendezvous file, or the --control endpoints), connect to its control
// actor through the gate and BASP (with timeouts, never a hang), and hand
// each command to the shell (cli/shell.hpp), which prints 3.54's texts.
#pragma once

#include "cli/options.hpp"

namespace balance::cli {

/// Runs -c or -i; returns the process exit code.
int run_control(const options& opts);

} // namespace balance::cli
