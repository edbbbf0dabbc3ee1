// `balance --demo` (what scripts/run starts without arguments): two
// built-in echo backends behind the proxy on 127.0.0.1:8888, in the
// foreground, with a note on how to try it.
#pragma once

namespace balance::cli {

int run_demo(const char* argv0);

} // namespace balance::cli
