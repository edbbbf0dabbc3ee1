#include "cli/client.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <unistd.h>

#include <caf/io/all.hpp>

#include "actors/basp_handoff.hpp"
#include "actors/protocol.hpp"
#include "cli/commands.hpp"
#include "cli/exit.hpp"
#include "cli/rendezvous.hpp"
#include "cli/shell.hpp"
#include "net/control_dial.hpp"
#include "net/tls_context.hpp"

namespace balance::cli {

namespace {

constexpr auto connect_timeout = std::chrono::seconds(3);

int no_master(const std::string& why) {
  complain(why);
  say("no master process, exiting.\n");
  return ex_unavailable;
}

std::variant<target, int> local_target(const options& opts) {
  auto name = rendezvous_name(opts.port, opts.bind_host);
  std::string skipped;
  auto path = opts.control_pid > 0
                ? find_rendezvous_by_pid(opts.control_pid, skipped)
                : find_rendezvous(name, skipped);
  if (path.empty() && opts.control_pid > 0)
    return no_master("no instance whose master process is "
                     + std::to_string(opts.control_pid)
                     + (skipped.empty() ? "" : "; " + skipped));
  if (path.empty())
    return no_master(
      "no instance on port " + opts.port_text
      + (opts.bind_host.empty() ? "" : " bound to " + opts.bind_host)
      + " (no control file " + name + ")"
      + (skipped.empty() ? "" : "; " + skipped));
  std::string error;
  rendezvous_problem problem;
  auto rv = read_rendezvous(path, problem, error);
  if (!rv) {
    bool denied = problem == rendezvous_problem::unreadable && errno == EACCES;
    complain(error + (denied ? " (the instance belongs to another user)" : ""));
    return denied || problem == rendezvous_problem::untrusted ? ex_noperm
                                                              : ex_unavailable;
  }
  if (!process_alive(rv->pid)) {
    ::unlink(path.c_str()); // stale: the daemon died without cleaning up
    return no_master("stale control file " + path + ": master process "
                     + std::to_string(rv->pid) + " is not running");
  }
  target t;
  t.label = opts.control_pid > 0 ? "pid " + std::to_string(opts.control_pid)
                                 : "port " + opts.port_text;
  t.socket = rv->socket;
  t.secret = rv->secret;
  t.pid = rv->pid;
  return t;
}

std::variant<std::vector<target>, int> remote_targets(const options& opts) {
  std::string secret;
  if (!opts.secret_file.empty()) {
    std::string error;
    if (auto found = read_secret_file(opts.secret_file, error)) {
      secret = *found;
    } else {
      complain(error);
      return ex_noperm;
    }
  }
  std::vector<target> out;
  for (auto& ep : opts.control_endpoints) {
    auto colon = ep.rfind(':');
    auto port = colon == std::string::npos ? std::nullopt
                                           : parse_port(ep.substr(colon + 1));
    if (!port || colon == 0) {
      complain("invalid --control '" + ep + "' (want host:port)");
      return ex_usage;
    }
    target t;
    t.label = ep;
    t.host = ep.substr(0, colon);
    if (t.host.size() > 1 && t.host.front() == '[')
      t.host = t.host.substr(1, t.host.size() - 2);
    t.port = *port;
    t.secret = secret;
    out.push_back(std::move(t));
  }
  return out;
}

} // namespace

/// Through the instance's control gate, then BASP over the same socket.
std::optional<control_actor>
connect_target(caf::scoped_actor& self, net::control_link& link,
               const target& t,
               const std::shared_ptr<asio::ssl::context>& tls,
               std::string& error, bool& refused,
               std::set<std::string>* interface) {
  auto dialled = t.socket.empty()
                   ? link.dial_tcp(t.host, t.port, t.secret, tls,
                                   connect_timeout)
                   : link.dial_local(t.socket, t.secret, connect_timeout);
  refused = dialled.refused;
  if (dialled.fd < 0) {
    error = "cannot reach the control endpoint "
            + (t.socket.empty() ? t.host + ":" + std::to_string(t.port)
                                : t.socket)
            + ": " + dialled.error;
    return std::nullopt;
  }
  auto ctl = basp_connect(self, dialled.fd, connect_timeout, error,
                          interface);
  if (!ctl)
    error = "control endpoint " + t.label + ": " + error;
  return ctl;
}

std::variant<std::vector<target>, int> find_targets(const options& opts) {
  if (!opts.control_endpoints.empty())
    return remote_targets(opts);
  auto t = local_target(opts);
  if (auto* rc = std::get_if<int>(&t))
    return *rc;
  return std::vector<target>{std::get<target>(std::move(t))};
}

std::variant<std::shared_ptr<asio::ssl::context>, int>
client_tls(const options& opts) {
  // One TLS identity for the whole call: the operator's files for
  // --control (local control goes through the instance's socket).
  if (opts.control_endpoints.empty() || !opts.tls.any())
    return std::shared_ptr<asio::ssl::context>{};
  auto files = opts.tls;
  std::string error;
  auto tls = net::make_tls_context(files, net::tls_role::client, error);
  if (!tls) {
    complain(error);
    return ex_config;
  }
  return tls;
}

void configure_client(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 1);
  register_types(cfg);
  cfg.load<caf::io::middleman>();
}

int run_control(const options& opts) {
  auto found = find_targets(opts);
  if (auto* rc = std::get_if<int>(&found))
    return *rc;
  auto targets = std::get<std::vector<target>>(std::move(found));
  auto tls_or = client_tls(opts);
  if (auto* rc = std::get_if<int>(&tls_or))
    return *rc;
  auto tls = std::get<std::shared_ptr<asio::ssl::context>>(tls_or);
  caf::actor_system_config cfg;
  configure_client(cfg);
  caf::actor_system sys{cfg};
  net::control_link link;
  int rc = ex_ok;
  {
    caf::scoped_actor self{sys};
    bool fleet = targets.size() > 1;
    for (auto& t : targets) {
      if (fleet)
        say("== " + t.label + " ==\n");
      std::string error;
      bool refused = false;
      std::set<std::string> interface;
      auto ctl = connect_target(self, link, t, tls, error, refused,
                                &interface);
      if (!ctl && refused) {
        complain("access denied: " + error);
        rc = ex_noperm;
        continue;
      }
      if (!ctl) {
        if (t.pid > 0 && !process_alive(t.pid))
          error += " (master process " + std::to_string(t.pid) + " is gone)";
        rc = no_master(error);
        continue;
      }
      control_session session{self, *ctl, t, has_lifecycle(sys, interface)};
      if (opts.mode == run_mode::interactive) {
        rc = run_interactive(session);
        continue;
      }
      for (auto& line : split_commands(opts.command)) {
        if (auto r = session.execute(line)) {
          if (*r != ex_ok)
            rc = *r;
          break;
        }
      }
      if (auto soft = session.soft_failure(); soft && rc == ex_ok)
        rc = *soft;
    }
  }
  std::fflush(stdout);
  // Skip the actor system's teardown (it may wait on middleman peers).
  exit_now(rc);
}

} // namespace balance::cli