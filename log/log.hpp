// Diagnostics: -d lines on stderr, notices on stderr in the foreground and
// syslog in the background (as 3.54 does for autodisable).
#pragma once

#include <string>

namespace balance::log {

/// Set once at startup.
void configure(bool debug, bool foreground);
bool debug_enabled();

/// A -d line (stderr, only with -d).
void debug(const std::string& line);
/// An operator notice: stderr in the foreground, syslog in the background.
void notice(const std::string& line);
/// An error: like notice, and always on stderr while it is open.
void error(const std::string& line);

} // namespace balance::log
