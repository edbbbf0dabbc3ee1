#include "cli/daemon.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/resource.h>
#include <string>
#include <unistd.h>

#include "cli/exit.hpp"
#include "cli/options.hpp"

namespace balance::cli {

void readiness::ok() {
  if (fd_ < 0)
    return;
  (void)!::write(fd_, "0\n", 2);
  ::close(fd_);
  fd_ = -1;
}

void readiness::fail(int code, const std::string& message) {
  if (fd_ < 0) {
    std::fprintf(stderr, "balance: %s\n", message.c_str());
    return;
  }
  auto text = std::to_string(code) + " " + message + "\n";
  (void)!::write(fd_, text.data(), text.size());
  ::close(fd_);
  fd_ = -1;
}

bool inherited_ignore(int sig) {
  struct sigaction current {};
  return ::sigaction(sig, nullptr, &current) == 0
         && current.sa_handler == SIG_IGN;
}

readiness daemonize(bool keep_stdout, bool keep_stderr) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("balance: pipe()");
    std::exit(ex_oserr);
  }
  auto pid = ::fork();
  if (pid < 0) {
    std::perror("balance: fork()");
    std::exit(ex_oserr);
  }
  if (pid > 0) {
    ::close(fds[1]);
    std::string verdict;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) != 0;) {
      if (n < 0)
        continue; // EINTR
      verdict.append(buf, static_cast<std::size_t>(n));
    }
    if (verdict.empty()) {
      std::fprintf(stderr, "balance: the daemon exited during startup\n");
      exit_now(ex_oserr);
    }
    int code = std::atoi(verdict.c_str());
    auto space = verdict.find(' ');
    if (code != 0 && space != std::string::npos)
      std::fprintf(stderr, "balance: %s", verdict.substr(space + 1).c_str());
    exit_now(code);
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) {
    // not fatal: nothing relies on the working directory
  }
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    if (!keep_stdout)
      ::dup2(null, STDOUT_FILENO);
    if (!keep_stderr)
      ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO)
      ::close(null);
  }
  return readiness{fds[1]};
}

std::pair<unsigned long, unsigned long> raise_descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return {0, 0};
  auto before = static_cast<unsigned long>(rl.rlim_cur);
  // The kernel refuses more than fs.nr_open even when the hard limit is
  // "unlimited".
  auto want = rl.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : rl.rlim_max;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
      return {before, before};
  }
  return {before, static_cast<unsigned long>(rl.rlim_cur)};
}

} // namespace balance::cli
