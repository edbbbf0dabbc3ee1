// `balance` with no arguments: two built-in echo backends behind the proxy
// on loopback, in the foreground, with a note on how to try it.
#pragma once

namespace balance::cli {

int run_demo(const char* argv0);

} // namespace balance::cli
