#include "cli/successor.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/handover.hpp"
#include "cli/sd_notify.hpp"
#include "cli/successor_child.hpp"
#include "cli/successor_wait.hpp"

extern char** environ;

namespace balance::cli {

namespace {

#ifdef MFD_NOEXEC_SEAL
constexpr unsigned memfd_noexec_seal = MFD_NOEXEC_SEAL;
#else
constexpr unsigned memfd_noexec_seal = 0x0008U; // linux/memfd.h, 6.3
#endif

bool starts_with(const char* entry, const std::string& prefix) {
  return std::strncmp(entry, prefix.c_str(), prefix.size()) == 0;
}

/// Our environment without what described our own start, plus the new
/// process's $LISTEN_* and $BALANCE_HANDOVER. LISTEN_PID comes last: the
/// child writes its pid there.
std::vector<std::string> child_environment(std::size_t listen_count,
                                           const std::string& names,
                                           int first_extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (!starts_with(*e, "LISTEN_PID=") && !starts_with(*e, "LISTEN_FDS=")
        && !starts_with(*e, "LISTEN_FDNAMES=")
        && !starts_with(*e, std::string(handover_env) + "="))
      env.emplace_back(*e);
  env.push_back("LISTEN_FDS=" + std::to_string(listen_count));
  env.push_back("LISTEN_FDNAMES=" + names);
  env.push_back(std::string(handover_env) + "=" + std::to_string(first_extra)
                + ":" + std::to_string(first_extra + 1) + ":"
                + std::to_string(first_extra + 2));
  env.push_back("LISTEN_PID=" + std::string(20, '0'));
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int memfd(const char* name, const std::string& content, std::string& error) {
  // Not executable where the kernel knows how to say so (6.3 on; a
  // vm.memfd_noexec of 2 refuses memfds without it).
  int fd = ::memfd_create(name, MFD_CLOEXEC | memfd_noexec_seal);
  if (fd < 0 && errno == EINVAL)
    fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) {
    error = std::string("memfd_create: ") + std::strerror(errno);
    return -1;
  }
  for (std::size_t done = 0; done < content.size();) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      error = std::string("cannot write the state: ") + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  return fd;
}

void close_all(std::initializer_list<int> fds) {
  for (int fd : fds)
    if (fd >= 0)
      ::close(fd);
}

/// Every descriptor the child gets, at 3, 4, ... in this order: the
/// listening sockets (as $LISTEN_FDNAMES names them), then the state, the
/// readiness pipe, our stderr (its stderr once ready) and the report pipe.
struct passed_descriptors {
  std::vector<int> sources;
  std::vector<int> targets;
  std::string names;
  std::size_t listening = 0;

  explicit passed_descriptors(const successor_plan& plan) {
    for (std::size_t i = 0; i < plan.proxy_fds.size(); ++i) {
      sources.push_back(plan.proxy_fds[i]);
      names += (i ? ":" : "") + std::string(proxy_fd_name);
    }
    if (plan.control_local >= 0) {
      sources.push_back(plan.control_local);
      names += std::string(":") + control_local_fd_name;
    }
    if (plan.control_tcp >= 0) {
      sources.push_back(plan.control_tcp);
      names += std::string(":") + control_tcp_fd_name;
    }
    if (plan.metrics >= 0) {
      sources.push_back(plan.metrics);
      names += std::string(":") + metrics_fd_name;
    }
    listening = sources.size();
  }

  int first_extra() const { return 3 + static_cast<int>(listening); }

  void add_extras(int state, int ready, int report) {
    for (int fd : {state, ready, static_cast<int>(STDERR_FILENO), report})
      sources.push_back(fd);
    for (std::size_t i = 0; i < sources.size(); ++i)
      targets.push_back(3 + static_cast<int>(i));
  }
};

} // namespace

successor_result start_successor(const successor_plan& plan,
                                 const pause_function& pause,
                                 std::chrono::milliseconds ready_within,
                                 std::atomic<int>& pending) {
  successor_result result;
  auto deadline = std::chrono::steady_clock::now() + ready_within;
  auto fail = [&](std::string why) {
    result.message = std::move(why);
    return result;
  };
  if (::access(plan.binary.c_str(), X_OK) != 0)
    return fail("cannot execute " + plan.binary + ": " + std::strerror(errno));
  if (plan.proxy_fds.empty())
    return fail("no listening socket to hand over");

  passed_descriptors fds(plan);
  std::string error;
  int state_fd = memfd("balance-handover", plan.state, error);
  int stderr_fd = state_fd < 0 ? -1 : memfd("balance-stderr", "", error);
  int ready[2] = {-1, -1}, report[2] = {-1, -1};
  if (stderr_fd < 0 || ::pipe2(ready, O_CLOEXEC) != 0
      || ::pipe2(report, O_CLOEXEC) != 0) {
    if (error.empty())
      error = std::string("pipe: ") + std::strerror(errno);
    close_all({state_fd, stderr_fd, ready[0], ready[1], report[0]});
    return fail(error);
  }
  fds.add_extras(state_fd, ready[1], report[1]);

  auto argv_strings = plan.launch.argv;
  auto argv = pointers(argv_strings);
  auto env_strings = child_environment(fds.listening, fds.names,
                                       fds.first_extra());
  auto envp = pointers(env_strings);
  std::vector<int> scratch(fds.sources.size() + 1);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  child_plan cp;
  cp.binary = plan.binary.c_str();
  cp.cwd = plan.launch.cwd.c_str();
  cp.argv = argv.data();
  cp.envp = envp.data();
  cp.sources = fds.sources.data();
  cp.targets = fds.targets.data();
  cp.scratch = scratch.data();
  cp.count = fds.sources.size();
  cp.stderr_source = stderr_fd;
  cp.report_source = report[1];
  cp.report_target = fds.targets.back();
  cp.listen_pid = env_strings.back().data() + std::strlen("LISTEN_PID=");
  cp.close_from = fds.targets.back() + 1;
  cp.close_limit = static_cast<int>(std::min<rlim_t>(
    rl.rlim_cur == RLIM_INFINITY ? 65536 : rl.rlim_cur, 1u << 20));

  // While the child holds a copy of every descriptor, a socket closed here
  // would stay in our epoll set (the kernel drops an entry only with the
  // last reference to the socket): no io thread runs until the child has
  // closed them.
  auto held = pause();
  if (!held) {
    close_all({state_fd, stderr_fd, ready[0], ready[1], report[0], report[1]});
    return fail("the io threads could not be held for the fork (busy)");
  }
  auto pid = ::fork();
  if (pid == 0)
    run_child(cp);
  int fork_errno = errno;
  close_all({ready[1], report[1], state_fd});
  if (pid < 0) {
    held.reset();
    close_all({stderr_fd, ready[0], report[0]});
    return fail(std::string("fork: ") + std::strerror(fork_errno));
  }
  pending = pid;
  int exec_errno = await_exec(report[0], [&] { held.reset(); });
  ::close(report[0]);
  verdict_wait w;
  if (exec_errno == 0)
    w = await_verdict(ready[0], pid, deadline);
  ::close(ready[0]);
  if (exec_errno == 0 && w.ready()) {
    ::close(stderr_fd);
    pending = 0;
    result.ok = true;
    result.pid = pid;
    return result;
  }
  // It failed: end it (and whatever it started), then say why.
  bool was_alive = !w.reaped;
  kill_and_reap(pid, w);
  pending = 0;
  auto why = explain_failure(plan.binary, pid, exec_errno, w, was_alive,
                             ready_within, stderr_fd);
  ::close(stderr_fd);
  return fail(why);
}

} // namespace balance::cli
