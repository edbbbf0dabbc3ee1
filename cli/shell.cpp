#include "cli/shell.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <unistd.h>

#include <caf/all.hpp>
#include <editline/readline.h>

#include "cli/format.hpp"
#include "cli/options.hpp"
#include "cli/rendezvous.hpp"
#include "core/limits.hpp"

namespace balance::cli {

namespace {

constexpr auto request_timeout = std::chrono::seconds(10);

} // namespace

void say(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

void complain(const std::string& text) {
  std::fprintf(stderr, "balance: %s\n", text.c_str());
}

void control_session::fail(const caf::error& err) {
  last_error_ = is_refused(err) ? "access denied"
                                : self_->system().render(err);
  if (quiet_) {
    failure_ = is_refused(err) ? ex_noperm : ex_unavailable;
    return;
  }
  if (is_refused(err)) {
    complain("access denied: the instance refused the control secret");
    failure_ = ex_noperm;
  } else if (is_busy(err)) {
    // The session goes on (an -i shell still shows this process's state);
    // `-c` exits with it.
    complain("not done: this process is handing the instance over to a new "
             "one (upgrade); give the command again");
    soft_failure_ = ex_unavailable;
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

std::optional<std::vector<health_row>>
control_session::fetch_health(bool& supported) {
  supported = true;
  std::optional<std::vector<health_row>> result;
  self_->request(ctl_, request_timeout, health_atom::value, target_.secret)
    .receive([&](std::vector<health_row>& rows) { result = std::move(rows); },
             [&](caf::error& err) {
               // What a daemon without the handler answers (control_base).
               if (err == caf::sec::unexpected_message)
                 supported = false;
               else
                 fail(err);
             });
  return result;
}

std::optional<int>
control_session::show_with_health(const command& cmd, const snapshot& snap,
                                  const lifecycle_status* life) {
  bool supported = true;
  auto health = fetch_health(supported);
  if (!health && supported)
    return failure_;
  if (cmd.kind == command_kind::health) {
    if (!supported) {
      complain("the instance (balance " + snap.version
               + ") has no health checks: no 'health' command");
      failure_ = ex_unavailable;
      return failure_;
    }
    say(format_health(snap, *health));
  } else if (cmd.kind == command_kind::metrics) {
    say(format_metrics(snap, health ? &*health : nullptr, life));
  } else {
    say(format_json(snap, health ? &*health : nullptr, life));
  }
  return std::nullopt;
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
  auto outcome = request(req);
  if (auto* r = std::get_if<reply>(&outcome)) {
    say(format_reply(cmd, group_, *r));
  } else if (auto& err = std::get<caf::error>(outcome);
             err == caf::sec::unexpected_response) {
    complain("the instance answered with " + self_->system().render(err));
    failure_ = ex_software;
  } else {
    fail(err);
  }
  return failure_;
}

std::variant<reply, caf::error>
control_session::request(const control_command& req) {
  std::variant<reply, caf::error> outcome = caf::error{};
  self_
    ->request(ctl_, request_timeout, command_atom::value, target_.secret, req)
    .receive(
      [&](int32_t code) {
        reply r;
        if (from_integer(code, r))
          outcome = r;
        else
          outcome = caf::make_error(caf::sec::unexpected_response,
                                    "an unknown reply ("
                                      + std::to_string(code) + ")");
      },
      [&](caf::error& err) { outcome = std::move(err); });
  return outcome;
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
    case command_kind::drain: return drain();
    case command_kind::upgrade: return upgrade(cmd.path);
    default: break;
  }
  auto snap = fetch();
  if (!snap)
    return failure_;
  // JSON and metrics say whether the instance drains; `show` stays 3.54's.
  std::optional<lifecycle_status> life;
  if ((cmd.kind == command_kind::show && cmd.json)
      || cmd.kind == command_kind::metrics) {
    life = fetch_lifecycle();
    if (failure_)
      return failure_;
  }
  auto* life_ptr = life ? &*life : nullptr;
  switch (cmd.kind) {
    case command_kind::show:
      if (cmd.json)
        return show_with_health(cmd, *snap, life_ptr);
      say(format_show(*snap));
      break;
    case command_kind::version: say(format_version(*snap)); break;
    case command_kind::metrics:
    case command_kind::health: return show_with_health(cmd, *snap, life_ptr);
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

} // namespace balance::cli
