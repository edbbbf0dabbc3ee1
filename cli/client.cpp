#include "cli/client.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <editline/readline.h>

#include "actors/basp_handoff.hpp"
#include "actors/protocol.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/rendezvous.hpp"
#include "core/limits.hpp"
#include "net/control_dial.hpp"
#include "net/tls_context.hpp"

namespace balance::cli {

namespace {

constexpr auto connect_timeout = std::chrono::seconds(3);
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr int ex_noperm = 77;

struct target {
  std::string label;  ///< host:port, printed before each reply of a fleet
  std::string socket; ///< local instance: its control socket
  std::string host;   ///< remote: --control host:port
  uint16_t port = 0;
  std::string secret;
  int pid = 0; ///< known for local instances
};

void say(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

void complain(const std::string& text) {
  std::fprintf(stderr, "balance: %s\n", text.c_str());
}

int no_master(const std::string& why) {
  complain(why);
  say("no master process, exiting.\n");
  return ex_unavailable;
}

/// One connected control session: the shell's state (the current group)
/// and how each command becomes requests and text.
class control_session {
public:
  control_session(caf::scoped_actor& self, control_actor ctl, target t)
    : self_(self), ctl_(std::move(ctl)), target_(std::move(t)) {}

  /// Runs one command line; returns an exit code when the session ends.
  std::optional<int> execute(const std::string& line);

  int64_t group() const { return group_; }

  /// Fetches the snapshot; nullopt after printing why not.
  std::optional<snapshot> fetch();

  std::optional<int> failure() const { return failure_; }

private:
  std::optional<int> change(const command& cmd, verb what);
  std::optional<int> kill();
  void fail(const caf::error& err);

  caf::scoped_actor& self_;
  control_actor ctl_;
  target target_;
  int64_t group_ = 0;
  std::optional<int> failure_;
};

void control_session::fail(const caf::error& err) {
  if (is_refused(err)) {
    complain("access denied: the instance refused the control secret");
    failure_ = ex_noperm;
  } else {
    complain("control request failed: " + self_->system().render(err));
    failure_ = ex_unavailable;
  }
}

std::optional<snapshot> control_session::fetch() {
  std::optional<snapshot> result;
  self_->request(ctl_, request_timeout, show_atom::value, target_.secret)
    .receive([&](snapshot& snap) { result = std::move(snap); },
             [&](caf::error& err) { fail(err); });
  return result;
}

std::optional<int> control_session::change(const command& cmd, verb what) {
  control_command req;
  req.what = what;
  req.group = static_cast<uint32_t>(group_);
  bool by_channel = what != verb::create && what != verb::set_hash
                    && what != verb::set_rr;
  if (by_channel && (cmd.first < 0 || cmd.first > UINT32_MAX)) {
    say(format_reply(cmd, group_,
                     what == verb::maxc || what == verb::assign
                       ? reply::unknown_channel
                       : reply::no_such_channel));
    return std::nullopt;
  }
  if (what == verb::maxc && (cmd.second < 0 || cmd.second > 1000000000)) {
    say("syntax error\n");
    return std::nullopt;
  }
  req.channel = static_cast<uint32_t>(cmd.first);
  req.value = static_cast<uint32_t>(cmd.second);
  req.host = cmd.host;
  req.port = cmd.port;
  self_
    ->request(ctl_, request_timeout, command_atom::value, target_.secret, req)
    .receive(
      [&](int32_t code) {
        reply outcome;
        if (from_integer(code, outcome)) {
          say(format_reply(cmd, group_, outcome));
        } else {
          complain("the instance answered with an unknown reply ("
                   + std::to_string(code) + ")");
          failure_ = ex_software;
        }
      },
      [&](caf::error& err) { fail(err); });
  return failure_;
}

std::optional<int> control_session::kill() {
  std::optional<int32_t> code;
  self_->request(ctl_, request_timeout, kill_atom::value, target_.secret)
    .receive([&](int32_t c) { code = c; }, [&](caf::error& err) { fail(err); });
  if (!code) {
    if (failure_ == ex_noperm)
      return failure_;
    say("shutdown failed.\n");
    return ex_unavailable;
  }
  // `already`: another kill is under way, and it may yet fail. Either way
  // only the process being gone says the shutdown is complete (and makes
  // `balance -c kill P && balance P ...` work), so wait (bounded) for that;
  // long enough, after `already`, for the other kill's listener stop and
  // connection drain (3 s each) to run out.
  reply outcome;
  bool in_progress = from_integer(*code, outcome) && outcome == reply::already;
  if (target_.pid <= 0 && in_progress) {
    // A remote process: not ours to watch.
    say("shutdown in progress, exiting.\n");
    return ex_ok;
  }
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::seconds(in_progress ? 8 : 5);
  while (target_.pid > 0 && process_alive(target_.pid)
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (target_.pid > 0 && process_alive(target_.pid)) {
    say("shutdown failed.\n");
    return ex_unavailable;
  }
  say("shutdown complete, exiting.\n");
  return ex_ok;
}

std::optional<int> control_session::execute(const std::string& line) {
  auto cmd = parse_command(line);
  switch (cmd.kind) {
    case command_kind::empty: return std::nullopt;
    case command_kind::syntax_error: say("syntax error\n"); return std::nullopt;
    case command_kind::quit: return ex_ok;
    case command_kind::help: say(format_help()); return std::nullopt;
    case command_kind::kill: return kill();
    case command_kind::group:
      if (cmd.first < 0 || cmd.first >= static_cast<int64_t>(max_groups))
        say("value out of range\n");
      else
        group_ = cmd.first;
      return std::nullopt;
    case command_kind::disable: return change(cmd, verb::disable);
    case command_kind::enable: return change(cmd, verb::enable);
    case command_kind::reset: return change(cmd, verb::reset);
    case command_kind::maxc: return change(cmd, verb::maxc);
    case command_kind::create: return change(cmd, verb::create);
    case command_kind::assign: return change(cmd, verb::assign);
    case command_kind::hash: return change(cmd, verb::set_hash);
    case command_kind::rr: return change(cmd, verb::set_rr);
    default: break;
  }
  auto snap = fetch();
  if (!snap)
    return failure_;
  switch (cmd.kind) {
    case command_kind::show:
      say(cmd.json ? format_json(*snap) : format_show(*snap));
      break;
    case command_kind::version: say(format_version(*snap)); break;
    case command_kind::metrics: say(format_metrics(*snap)); break;
    case command_kind::mrtg_bytes:
      say(format_mrtg_bytes(*snap, cmd.first, cmd.second));
      break;
    case command_kind::mrtg_conns:
      say(format_mrtg_conns(*snap, cmd.first, cmd.second));
      break;
    default: break;
  }
  return std::nullopt;
}

// -- finding and reaching the instance ---------------------------------------

std::variant<target, int> local_target(const options& opts) {
  auto name = rendezvous_name(opts.port, opts.bind_host);
  std::string skipped;
  auto path = find_rendezvous(name, skipped);
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
  t.label = "port " + opts.port_text;
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

/// Through the instance's control gate, then BASP over the same socket.
std::optional<control_actor>
connect(caf::scoped_actor& self, net::control_link& link, const target& t,
        const std::shared_ptr<asio::ssl::context>& tls, std::string& error,
        bool& refused) {
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
  auto ctl = basp_connect(self, dialled.fd, connect_timeout, error);
  if (!ctl)
    error = "control endpoint " + t.label + ": " + error;
  return ctl;
}

int run_interactive(control_session& session) {
  auto snap = session.fetch();
  if (!snap)
    return *session.failure();
  say(format_banner(snap->version, snap->pid));
  bool tty = ::isatty(STDIN_FILENO);
  for (;;) {
    auto prompt = "balance[" + std::to_string(session.group()) + "] ";
    std::string line;
    if (tty) {
      char* raw = readline(prompt.c_str());
      if (!raw) {
        say("\n");
        return ex_ok;
      }
      line = raw;
      std::free(raw);
      if (!line.empty())
        add_history(line.c_str());
    } else {
      say(prompt);
      if (!std::getline(std::cin, line)) {
        say("\n");
        return ex_ok;
      }
    }
    if (auto rc = session.execute(line))
      return *rc;
  }
}

} // namespace

int run_control(const options& opts) {
  std::vector<target> targets;
  if (opts.control_endpoints.empty()) {
    auto t = local_target(opts);
    if (auto* rc = std::get_if<int>(&t))
      return *rc;
    targets.push_back(std::get<target>(std::move(t)));
  } else {
    auto ts = remote_targets(opts);
    if (auto* rc = std::get_if<int>(&ts))
      return *rc;
    targets = std::get<std::vector<target>>(std::move(ts));
  }
  // One TLS identity for the whole call: the operator's files for
  // --control (local control goes through the instance's socket).
  std::shared_ptr<asio::ssl::context> tls;
  if (!opts.control_endpoints.empty() && opts.tls.any()) {
    auto files = opts.tls;
    std::string error;
    tls = net::make_tls_context(files, net::tls_role::client, error);
    if (!tls) {
      complain(error);
      return ex_config;
    }
  }
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 1);
  register_types(cfg);
  cfg.load<caf::io::middleman>();
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
      auto ctl = connect(self, link, t, tls, error, refused);
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
      control_session session{self, *ctl, t};
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
    }
  }
  std::fflush(stdout);
  // Skip the actor system's teardown (it may wait on middleman peers).
  std::_Exit(rc);
}

} // namespace balance::cli
