// balance: a drop-in replacement for Inlab's balance 3.54. Without -i/-c it
// is the daemon; with them, the client of a running daemon's control actor.
#include <cstdio>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/client.hpp"
#include "cli/config_report.hpp"
#include "cli/control_plane.hpp"
#include "cli/daemon.hpp"
#include "cli/demo.hpp"
#include "cli/handover.hpp"
#include "cli/instance.hpp"
#include "cli/options.hpp"
#include "cli/sd_notify.hpp"
#include "cli/top.hpp"
#include "core/limits.hpp"
#include "log/log.hpp"
#include "net/acceptor.hpp"
#include "net/tls_context.hpp"

using namespace balance;
using namespace balance::cli;

namespace {

int fail(int code, const std::string& message, bool usage = false) {
  std::fprintf(stderr, "balance: %s\n", message.c_str());
  if (usage)
    std::fprintf(stderr, "%s", usage_text().c_str());
  return code;
}

// -B must name a local address: find out now, not at the first client.
std::string check_out_bind(const std::string& host, endpoint& out) {
  std::string error;
  auto ep = resolve_host(host, family::any, error);
  if (!ep)
    return "unknown host '" + host + "' for -B: " + error;
  out = *ep;
  int fd = ::socket(ep->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (ep->v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::copy(ep->bytes.begin(), ep->bytes.end(), in6->sin6_addr.s6_addr);
    len = sizeof(*in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    in4->sin_family = AF_INET;
    std::copy(ep->bytes.begin(), ep->bytes.begin() + 4,
              reinterpret_cast<uint8_t*>(&in4->sin_addr));
    len = sizeof(*in4);
  }
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = errno;
  ::close(fd);
  if (rc != 0)
    return "-B " + host + ": not a local address (" + std::strerror(err) + ")";
  return {};
}

// A -B address binds only sockets of its own family: one that no channel
// shares would fail every connect, so say so now.
std::string check_out_bind_family(const options& opts, const endpoint& ep) {
  for (auto& group : opts.groups)
    for (auto& ch : group.channels)
      if (ch.target.v6 == ep.v6)
        return {};
  return "-B " + opts.out_bind_host + " is an " + (ep.v6 ? "IPv6" : "IPv4")
         + " address and no channel is " + (ep.v6 ? "IPv6" : "IPv4");
}

int run_daemon(options& opts, instance_start& start) {
  // Started by an upgrade: the groups come from the state it carried (the
  // command line's channels may no longer resolve, and need not).
  std::string error;
  start.handed = take_handover(error);
  if (!error.empty())
    return fail(ex_software, error);
  if (!start.handed)
    if (auto r = resolve_channels(opts);
        std::holds_alternative<parse_error>(r)) {
      auto& err = std::get<parse_error>(r);
      return fail(err.code, err.message);
    }
  if (!opts.out_bind_host.empty()) {
    endpoint ep;
    if (auto err = check_out_bind(opts.out_bind_host, ep); !err.empty())
      return fail(err.rfind("unknown host", 0) == 0 ? ex_dataerr : ex_oserr,
                  err);
    if (auto err = check_out_bind_family(opts, ep); !err.empty())
      return fail(ex_usage, err);
    opts.out_bind = ep; // used as checked: a second lookup could differ
  }
  if (std::string err; (remote_control_endpoint(opts, err), !err.empty()))
    return fail(ex_usage, err);
  if (!opts.metrics_listen.empty()) {
    std::string err;
    auto ep = resolve_host(opts.metrics_host, family::any, err);
    if (!ep)
      return fail(ex_dataerr, "unknown host '" + opts.metrics_host
                                + "' for --metrics-listen: " + err);
    ep->port = opts.metrics_port;
    opts.metrics_endpoint = ep;
  }
  if (opts.tls.any()) {
    std::string err;
    if (!net::make_tls_context(opts.tls, net::tls_role::server, err))
      return fail(ex_config, err);
  }
  // Socket activation, or an upgrade: the port is bound already.
  auto inherited = sd_listen_fds();
  start.control_local = inherited.control_local;
  start.control_tcp = inherited.control_tcp;
  start.metrics = inherited.metrics;
  for (int fd : inherited.proxy) {
    net::adopt_listener(fd);
    start.listen_fds.push_back(fd);
  }
  if (start.handed && start.listen_fds.empty())
    return fail(ex_software, "an upgrade handed over no listening socket");
  if (start.listen_fds.empty()) {
    int fd = net::open_listener(opts.bind_host, opts.port, opts.force_ipv6,
                                error);
    if (fd < 0)
      return fail(ex_oserr, error + " (port " + opts.port_text + ")");
    start.listen_fds.push_back(fd);
  }
  log::configure(opts.debug, opts.foreground);
  // As 3.54: -d first says what it was given, then what each client gets.
  if (log::debug_enabled())
    for (auto& line : describe_groups(opts))
      log::debug(line);
  auto [was, now] = raise_descriptor_limit();
  if (was != now)
    log::debug("descriptor limit raised from " + std::to_string(was) + " to "
               + std::to_string(now));
  // The process an upgrade starts stays where it was started (the old
  // one tracks it by pid, and systemd follows it); it says "ready" on the
  // pipe it was given, as a daemon's child does to its parent.
  readiness ready;
  if (start.handed)
    ready = readiness{start.handed->ready_fd};
  else if (!opts.foreground)
    ready = daemonize(opts.packet_dump, opts.debug);
  return run_instance(opts, start, ready);
}

} // namespace

int main(int argc, char** argv) {
  instance_start start;
  start.launch = current_launch(argc, argv);
  auto parsed = parse_command_line(argc, argv);
  if (auto* err = std::get_if<parse_error>(&parsed))
    return fail(err->code, err->message, err->show_usage);
  auto& opts = std::get<options>(parsed);
  switch (opts.mode) {
    case run_mode::help: std::printf("%s", usage_text().c_str()); return ex_ok;
    case run_mode::version:
      std::printf("balance %s (MAXGROUPS=%zu, MAXCHANNELS=%zu)\n",
                  version_string, max_groups, max_channels);
      return ex_ok;
    case run_mode::demo: log::configure(false, true); return run_demo(argv[0]);
    case run_mode::command:
    case run_mode::interactive: return run_control(opts);
    case run_mode::top: return run_top(opts);
    case run_mode::daemon: return run_daemon(opts, start);
  }
  return ex_software;
}
