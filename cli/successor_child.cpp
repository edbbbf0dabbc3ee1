#include "cli/successor_child.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace balance::cli {

namespace {

void write_digits(char* out, long value) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 20);
  for (int i = 0; i < n; ++i)
    out[i] = tmp[n - 1 - i];
  out[n] = '\0';
}

[[noreturn]] void fail_child(int report_fd) {
  int err = errno;
  char msg[1 + sizeof(err)];
  msg[0] = 'e';
  std::memcpy(msg + 1, &err, sizeof(err));
  (void)!::write(report_fd, msg, sizeof(msg));
  ::_exit(127);
}

} // namespace

void run_child(const child_plan& p) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setpgid(0, 0);
  if (p.cwd && *p.cwd && ::chdir(p.cwd) != 0) {
    // stays in / : the new process reports what it cannot find
  }
  // Above every target first, so that no dup2 overwrites a source.
  for (std::size_t i = 0; i < p.count; ++i)
    if ((p.scratch[i] = ::fcntl(p.sources[i], F_DUPFD_CLOEXEC, p.close_from))
        < 0)
      fail_child(p.report_source);
  p.scratch[p.count] = ::fcntl(p.stderr_source, F_DUPFD_CLOEXEC, p.close_from);
  if (p.scratch[p.count] < 0)
    fail_child(p.report_source);
  for (std::size_t i = 0; i < p.count; ++i)
    if (::dup2(p.scratch[i], p.targets[i]) < 0) // clears close-on-exec
      fail_child(p.report_source);
  if (::dup2(p.scratch[p.count], STDERR_FILENO) < 0
      || ::fcntl(p.report_target, F_SETFD, FD_CLOEXEC) != 0)
    fail_child(p.report_source);
  if (::close_range(static_cast<unsigned>(p.close_from), ~0U, 0) != 0)
    for (int fd = p.close_from; fd < p.close_limit; ++fd)
      ::close(fd);
  (void)!::write(p.report_target, "c", 1);
  write_digits(p.listen_pid, static_cast<long>(::getpid()));
  ::execve(p.binary, p.argv, p.envp);
  fail_child(p.report_target);
}

} // namespace balance::cli
