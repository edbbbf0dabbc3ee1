#include "cli/demo.hpp"

#include <cstdio>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "cli/instance.hpp"
#include "net/acceptor.hpp"

namespace balance::cli {

namespace {

constexpr uint16_t demo_port = 8888;

// A tiny blocking echo server that greets each client with its name, so
// round robin is visible: one thread per client, fine for a demo.
void serve_echo(int listen_fd, std::string name) {
  for (;;) {
    int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0)
      continue;
    std::thread([fd, name] {
      auto hello = "hello from " + name + "\n";
      (void)!::write(fd, hello.data(), hello.size());
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;)
        if (::write(fd, buf, static_cast<std::size_t>(n)) != n)
          break;
      ::close(fd);
    }).detach();
  }
}

uint16_t start_backend(const std::string& name) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0
      || ::listen(fd, 64) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return 0;
  std::thread(serve_echo, fd, name).detach();
  return ntohs(sa.sin_port);
}

} // namespace

int run_demo(const char* argv0) {
  options opts;
  opts.foreground = true;
  opts.port = demo_port;
  opts.port_text = std::to_string(demo_port);
  std::string error;
  int listen_fd = net::open_listener("127.0.0.1", demo_port, false, error);
  if (listen_fd < 0) {
    std::fprintf(stderr, "balance demo: port %u: %s\n", demo_port,
                 error.c_str());
    return ex_oserr;
  }
  opts.bind_host = "127.0.0.1";
  group_spec group;
  for (auto* name : {"backend-a", "backend-b"}) {
    channel_spec ch;
    ch.host = "127.0.0.1";
    ch.port = start_backend(name);
    ch.target = *parse_numeric_address("127.0.0.1");
    ch.target.port = ch.port;
    group.channels.push_back(ch);
  }
  opts.groups.push_back(group);
  std::printf(
    "balance demo: proxying 127.0.0.1:%u round robin to two echo backends\n"
    "(127.0.0.1:%u and 127.0.0.1:%u). Try, in another terminal:\n"
    "  nc 127.0.0.1 %u          # twice: the greeting alternates\n"
    "  %s -b 127.0.0.1 -c show %u\n"
    "  %s -b 127.0.0.1 -i %u     # the interactive shell\n"
    "Stop with ^C or `%s -b 127.0.0.1 -c kill %u`.\n",
    demo_port, group.channels[0].port, group.channels[1].port, demo_port, argv0,
    demo_port, argv0, demo_port, argv0, demo_port);
  std::fflush(stdout);
  readiness none;
  instance_start start;
  start.listen_fds.push_back(listen_fd);
  return run_instance(opts, start, none);
}

} // namespace balance::cli
