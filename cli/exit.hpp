// Leaving the process at once, without destructors or atexit handlers (the
// daemon and the -c client skip CAF's teardown), yet with the checks an
// instrumented build runs at a normal exit.
#pragma once

namespace balance::cli {

/// _Exit(rc), preceded in a sanitizer build by LeakSanitizer's exit-time
/// leak check (which _Exit skips; a leak then ends the process with
/// LSan's exit code) and in a coverage build by writing the counters.
[[noreturn]] void exit_now(int rc);

} // namespace balance::cli
