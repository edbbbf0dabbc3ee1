#include "cli/sd_notify.hpp"

#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <poll.h>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace balance::cli {

bool sd_notify_state(const std::string& state,
                     std::chrono::milliseconds patience) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path)
    return true;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::size_t len = std::strlen(path);
  if (len >= sizeof(sa.sun_path))
    return false;
  std::memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@')
    sa.sun_path[0] = '\0'; // abstract namespace
  // Non-blocking and connected: a datagram to a reader whose queue is full
  // (systemd busy, a supervisor that reads late) would otherwise wait in
  // sendto() for as long as nobody reads, and the main loop that sends
  // STATUS would stop taking signals. Connected, poll() waits on that
  // reader's queue.
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return false;
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), addr_len) == 0) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      auto n = ::send(fd, state.data(), state.size(), MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(state.size())) {
        ok = true;
        break;
      }
      if (n < 0 && errno == EINTR)
        continue;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (n >= 0 || errno != EAGAIN || left.count() <= 0)
        break;
      pollfd room{fd, POLLOUT, 0};
      ::poll(&room, 1, static_cast<int>(left.count()));
    }
  }
  ::close(fd);
  return ok;
}

namespace {

constexpr long max_listen_fds = 1024;

bool is_listening(int fd) {
  int yes = 0;
  socklen_t len = sizeof(yes);
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) == 0 && yes;
}

std::vector<std::string> split_names(const char* names) {
  std::vector<std::string> out;
  std::string all = names ? names : "";
  std::size_t start = 0;
  while (start <= all.size()) {
    auto colon = all.find(':', start);
    if (colon == std::string::npos)
      colon = all.size();
    out.push_back(all.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}

} // namespace

inherited_sockets sd_listen_fds() {
  inherited_sockets out;
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  char* end = nullptr;
  long count = fds ? std::strtol(fds, &end, 10) : 0;
  bool ours = pid && fds && *fds && end && *end == '\0'
              && std::strtol(pid, nullptr, 10) == ::getpid() && count >= 1
              && count <= max_listen_fds;
  auto names = ours ? split_names(std::getenv("LISTEN_FDNAMES"))
                    : std::vector<std::string>{};
  for (long i = 0; ours && i < count; ++i) {
    int fd = 3 + static_cast<int>(i); // SD_LISTEN_FDS_START
    if (::fcntl(fd, F_GETFD) < 0)
      continue;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (!is_listening(fd)) {
      ::close(fd); // not a listening socket: of no use here
      continue;
    }
    auto name = static_cast<std::size_t>(i) < names.size() ? names[i] : "";
    if (name == control_local_fd_name && out.control_local < 0)
      out.control_local = fd;
    else if (name == control_tcp_fd_name && out.control_tcp < 0)
      out.control_tcp = fd;
    else if (name == metrics_fd_name && out.metrics < 0)
      out.metrics = fd;
    else
      out.proxy.push_back(fd);
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return out;
}

} // namespace balance::cli
