// `balance top`: samples every instance once per --interval through the
// same control connection as -c (show and health), lets cli/top_model
// turn two samples into rates, and draws them full-screen (keys: arrows or
// j/k select, e/d enable/disable the selected channel, s sorts, q quits)
// or, with --batch N, prints N snapshots and exits. A lost instance is
// shown as lost and dialled again at every sample.
#include "cli/top.hpp"

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <unistd.h>

#include <caf/io/all.hpp>

#include "cli/client.hpp"
#include "cli/exit.hpp"
#include "cli/terminal.hpp"
#include "cli/top_model.hpp"
#include "net/control_dial.hpp"

namespace balance::cli {

namespace {

/// One instance: where it is and, while connected, its session.
struct instance {
  target where;
  std::unique_ptr<control_session> session;
};

class top_client {
public:
  top_client(caf::scoped_actor& self, std::vector<target> targets,
             std::shared_ptr<asio::ssl::context> tls)
    : self_(self), tls_(std::move(tls)) {
    for (auto& t : targets)
      instances_.push_back({std::move(t), nullptr});
  }

  /// Asks every instance for its counters (dialling the lost ones again).
  std::vector<top_sample> sample() {
    std::vector<top_sample> out;
    for (auto& in : instances_) {
      top_sample s;
      s.label = in.where.label;
      if (!in.session)
        connect(in, s.error);
      if (in.session) {
        s.snap = in.session->fetch();
        if (s.snap) {
          bool supported = true;
          s.health = in.session->fetch_health(supported);
        } else {
          s.error = in.session->last_error();
          in.session.reset(); // dial again next time
        }
      }
      s.at = top_clock::now();
      out.push_back(std::move(s));
    }
    return out;
  }

  /// Enables or disables channel `index` of `group` on the instance
  /// labelled `label`; the status line's text.
  std::string change(const std::string& label, uint32_t group, uint32_t index,
                     verb what) {
    for (auto& in : instances_) {
      if (in.where.label != label)
        continue;
      if (!in.session)
        return label + ": not connected";
      control_command cmd;
      cmd.what = what;
      cmd.group = group;
      cmd.channel = index;
      auto outcome = in.session->request(cmd);
      auto name = label + " group " + std::to_string(group) + " channel "
                  + std::to_string(index);
      if (auto* err = std::get_if<caf::error>(&outcome))
        return name + ": " + self_->system().render(*err);
      auto r = std::get<reply>(outcome);
      if (r == reply::ok)
        return name + (what == verb::enable ? " enabled" : " disabled");
      if (r == reply::already)
        return name + (what == verb::enable ? " already enabled"
                                            : " already disabled");
      return name + ": " + to_string(r);
    }
    return label + ": no such instance";
  }

private:
  void connect(instance& in, std::string& error) {
    bool refused = false;
    auto ctl = connect_target(self_, link_, in.where, tls_, error, refused);
    if (!ctl)
      return;
    in.session = std::make_unique<control_session>(self_, *ctl, in.where);
    in.session->set_quiet(true);
  }

  caf::scoped_actor& self_;
  std::shared_ptr<asio::ssl::context> tls_;
  net::control_link link_;
  std::vector<instance> instances_;
};

int run_batch(top_client& client, const options& opts) {
  top_model model;
  model.update(client.sample());
  for (int i = 0; i < opts.top.batch; ++i) {
    std::this_thread::sleep_for(opts.top.interval);
    model.update(client.sample());
    if (i > 0)
      std::fputs("\n", stdout);
    std::fputs(model.render_text().c_str(), stdout);
    std::fflush(stdout);
  }
  return ex_ok;
}

int run_screen(top_client& client, const options& opts) {
  terminal term;
  top_model model;
  std::size_t selected = 0;
  std::string status = opts.top.read_only
                         ? "read-only: arrows/j/k select, s sort, q quit"
                         : "arrows/j/k select, e enable, d disable, s sort, "
                           "q quit";
  auto draw = [&] {
    auto [cols, rows] = term.size();
    if (!model.rows().empty() && selected >= model.rows().size())
      selected = model.rows().size() - 1;
    term.draw(model.render_screen(cols, rows, selected, status));
  };
  for (;;) {
    model.update(client.sample());
    draw();
    auto next = top_clock::now() + opts.top.interval;
    for (auto now = top_clock::now(); now < next; now = top_clock::now()) {
      auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
      int k = term.read_key(left);
      if (k == key_signal || k == 'q' || k == 'Q') {
        term.restore();
        return ex_ok;
      }
      if (k == key_none)
        continue;
      if ((k == key_up || k == 'k') && selected > 0)
        --selected;
      else if ((k == key_down || k == 'j') && selected + 1 < model.rows().size())
        ++selected;
      else if (k == 's')
        model.cycle_sort();
      else if ((k == 'e' || k == 'd') && !model.rows().empty()) {
        if (opts.top.read_only) {
          status = "read-only: enable and disable are off";
        } else {
          auto row = model.rows()[selected];
          status = client.change(row.instance, row.group, row.index,
                                 k == 'e' ? verb::enable : verb::disable);
          next = top_clock::now(); // show the change at once
        }
      }
      draw();
    }
  }
}

} // namespace

int run_top(const options& opts) {
  auto found = find_targets(opts);
  if (auto* rc = std::get_if<int>(&found))
    return *rc;
  auto tls_or = client_tls(opts);
  if (auto* rc = std::get_if<int>(&tls_or))
    return *rc;
  bool screen = opts.top.batch == 0;
  if (screen && (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO))) {
    complain("top needs a terminal (or --batch N for plain text)");
    return ex_usage;
  }
  // The actor system's threads must not take the signals meant for the
  // screen's loop (a handler would run there and poll() here go on).
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH})
    sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  caf::actor_system_config cfg;
  configure_client(cfg);
  caf::actor_system sys{cfg};
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  int rc = ex_ok;
  {
    caf::scoped_actor self{sys};
    top_client client{self, std::get<std::vector<target>>(std::move(found)),
                      std::get<std::shared_ptr<asio::ssl::context>>(tls_or)};
    rc = screen ? run_screen(client, opts) : run_batch(client, opts);
  }
  std::fflush(stdout);
  exit_now(rc);
}

} // namespace balance::cli
