#include "log/log.hpp"

#include <cstdio>
#include <mutex>
#include <syslog.h>

namespace balance::log {

namespace {
bool debug_flag = false;
bool in_foreground = true;
std::mutex mtx;

void to_stderr(const std::string& line) {
  std::lock_guard<std::mutex> lock{mtx};
  std::fprintf(stderr, "balance: %s\n", line.c_str());
  std::fflush(stderr);
}
} // namespace

void configure(bool debug, bool foreground) {
  debug_flag = debug;
  in_foreground = foreground;
  if (!foreground)
    openlog("balance", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

bool debug_enabled() {
  return debug_flag;
}

void debug(const std::string& line) {
  if (debug_flag)
    to_stderr(line);
}

void notice(const std::string& line) {
  if (in_foreground || debug_flag)
    to_stderr(line);
  if (!in_foreground)
    syslog(LOG_NOTICE, "%s", line.c_str());
}

void error(const std::string& line) {
  to_stderr(line);
  if (!in_foreground)
    syslog(LOG_ERR, "%s", line.c_str());
}

} // namespace balance::log
