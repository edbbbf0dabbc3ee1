#include "cli/successor_wait.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace balance::cli {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t max_stderr_shown = 16 * 1024;
constexpr std::size_t max_verdict = 4096;
constexpr auto exec_wait = std::chrono::seconds(2);
constexpr auto reap_wait = std::chrono::seconds(5);
/// A process that closed its pipe is usually exiting (its files close
/// before it becomes a zombie): its status says more than "no verdict".
constexpr auto exit_grace = std::chrono::milliseconds(300);

long millis_left(clock::time_point until) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(until
                                                               - clock::now())
    .count();
}

/// Its last words, bounded (what it wrote to its stderr capture).
std::string captured(int fd) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size <= 0)
    return {};
  auto size = static_cast<std::size_t>(st.st_size);
  auto from = size > max_stderr_shown ? size - max_stderr_shown : 0;
  std::string text(size - from, '\0');
  auto n = ::pread(fd, text.data(), text.size(), static_cast<off_t>(from));
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return text;
}

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

} // namespace

int await_exec(int report_fd, const std::function<void()>& on_closed) {
  std::string got;
  auto until = clock::now() + exec_wait;
  bool released = false;
  for (;;) {
    auto left = millis_left(until);
    pollfd pfd{report_fd, POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) == 0)
      break;
    char buf[16];
    auto n = ::read(report_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(n));
    if (!released) {
      released = true; // 'c', or an 'e' before it: none of ours is left
      on_closed();
    }
  }
  if (!released)
    on_closed();
  auto e = got.find('e');
  if (e != std::string::npos && got.size() >= e + 1 + sizeof(int)) {
    int err = 0;
    std::memcpy(&err, got.data() + e + 1, sizeof(err));
    return err != 0 ? err : EIO;
  }
  return 0;
}

verdict_wait await_verdict(int ready_fd, int pid, clock::time_point deadline) {
  verdict_wait w;
  bool closed = false;
  while (w.verdict.find('\n') == std::string::npos) {
    auto left = millis_left(deadline);
    if (left <= 0) {
      w.timed_out = true;
      break;
    }
    pollfd pfd{ready_fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(std::min<long>(left, 50))) > 0) {
      char buf[512];
      auto n = ::read(ready_fd, buf, sizeof(buf));
      if (n == 0) {
        closed = true; // without a verdict: it died, or gave up
        break;
      }
      if (n > 0 && w.verdict.size() < max_verdict)
        w.verdict.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (::waitpid(pid, &w.status, WNOHANG) == pid) {
      w.reaped = true;
      break;
    }
  }
  for (auto until = clock::now() + exit_grace;
       closed && !w.reaped && clock::now() < until;
       std::this_thread::sleep_for(std::chrono::milliseconds(5)))
    w.reaped = ::waitpid(pid, &w.status, WNOHANG) == pid;
  if (!w.reaped && ::waitpid(pid, &w.status, WNOHANG) == pid)
    w.reaped = true;
  return w;
}

void kill_and_reap(int pid, verdict_wait& w) {
  if (w.reaped)
    return;
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  for (auto until = clock::now() + reap_wait; clock::now() < until;
       std::this_thread::sleep_for(std::chrono::milliseconds(5))) {
    auto r = ::waitpid(pid, &w.status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      w.reaped = true;
      return;
    }
  }
}

std::string explain_failure(const std::string& binary, int pid,
                            int exec_errno, const verdict_wait& w,
                            bool was_alive, std::chrono::milliseconds limit,
                            int stderr_fd) {
  std::string why;
  auto killed = " (process " + std::to_string(pid) + " killed)";
  if (exec_errno != 0) {
    why = "cannot execute " + binary + ": " + std::strerror(exec_errno);
  } else if (!w.verdict.empty() && w.verdict.rfind("0\n", 0) != 0) {
    auto space = w.verdict.find(' ');
    auto text = space == std::string::npos ? w.verdict
                                           : w.verdict.substr(space + 1);
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    why = binary + " did not start: " + text;
  } else if (!was_alive) {
    why = binary + " " + describe_status(w.status) + " before it was ready";
  } else if (w.timed_out) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(limit);
    why = binary + " did not report ready within "
          + std::to_string(seconds.count()) + " s" + killed;
  } else {
    why = binary + " closed its readiness pipe without being ready" + killed;
  }
  auto text = captured(stderr_fd);
  if (!text.empty()) {
    why += "\n--- stderr of the new process ---\n" + text;
    if (why.back() != '\n')
      why += '\n';
  }
  return why;
}

} // namespace balance::cli
