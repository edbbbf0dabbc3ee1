#include "actors/control.hpp"

#include <unistd.h>

#include "core/limits.hpp"
#include "log/log.hpp"
#include "net/connection_registry.hpp"
#include "net/control_preamble.hpp"

namespace balance {

namespace {

constexpr auto ask_timeout = std::chrono::seconds(3);
constexpr auto drain_timeout = std::chrono::seconds(3);

// Rows asked of every group's scheduler (and, for a snapshot, the
// listener's counters), delivered sorted by group and channel once all
// have answered, or an error if one did not.
template <class Result>
struct collector {
  caf::typed_response_promise<Result> rp;
  Result result;
  std::size_t pending = 0;
  bool failed = false;

  static auto& rows_of(snapshot& x) { return x.channels; }
  static auto& rows_of(std::vector<health_row>& x) { return x; }

  void done_one() {
    if (--pending > 0)
      return;
    if (failed) {
      rp.deliver(caf::make_error(caf::sec::request_timeout));
      return;
    }
    auto& rows = rows_of(result);
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return a.group != b.group ? a.group < b.group : a.index < b.index;
    });
    rp.deliver(std::move(result));
  }
};

/// Asks every group's scheduler for its rows (`Atom`); `extra` more
/// answers are expected besides.
template <class Result, class Atom, class Self>
std::shared_ptr<collector<Result>> ask_groups(Self* self, const Atom& what,
                                              std::size_t extra) {
  auto c = std::make_shared<collector<Result>>();
  c->rp = self->template make_response_promise<Result>();
  auto& groups = self->state.config.directory->actors();
  c->pending = groups.size() + extra;
  using row = std::decay_t<decltype(collector<Result>::rows_of(c->result)[0])>;
  for (auto& group : groups)
    self->request(group, ask_timeout, what)
      .then(
        [=](std::vector<row>& rows) {
          auto& all = collector<Result>::rows_of(c->result);
          all.insert(all.end(), rows.begin(), rows.end());
          c->done_one();
        },
        [=](caf::error&) {
          c->failed = true;
          c->done_one();
        });
  return c;
}

// A name becomes its numeric address here (this actor is detached, so the
// lookup blocks nobody); the scheduler only ever parses numbers.
void resolve_in_place(std::string& host) {
  std::string error;
  if (auto ep = resolve_host(host, family::any, error))
    host = ep->address_text();
}

} // namespace

using net::secret_matches;

// Only authenticated peers reach these actors (the control gate sees to
// that), but a peer's messages are still not the daemon's to obey beyond
// the typed interface: exit and error messages, down messages and anything
// unexpected are dropped instead of ending the actor (an unblockable
// `kill` exit is caught by the instance's watchdog, which starts a new one).
template <class Self>
void ignore_system_messages(Self* self) {
  self->set_default_handler(caf::drop);
  self->set_exit_handler([](caf::exit_msg&) {});
  self->set_error_handler([](caf::error&) {});
  self->set_down_handler([](caf::down_msg&) {});
}

control_actor::behavior_type control(control_pointer self,
                                     control_config config) {
  self->state.config = std::move(config);
  ignore_system_messages(self);
  return {
    [=](show_atom, const std::string& secret) -> caf::result<snapshot> {
      auto& cfg = self->state.config;
      if (!secret_matches(cfg.secret, secret))
        return refused_error();
      auto collector = ask_groups<snapshot>(self, show_atom::value, 1);
      auto& snap = collector->result;
      snap.version = version_string;
      snap.max_groups = static_cast<uint32_t>(max_groups);
      snap.max_channels = static_cast<uint32_t>(max_channels);
      snap.pid = static_cast<int32_t>(::getpid());
      snap.uptime_seconds = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::steady_clock::now() - cfg.started)
          .count());
      self->request(cfg.listener, ask_timeout, show_atom::value)
        .then(
          [=](uint64_t live, uint64_t accept_errors) {
            collector->result.live_connections = live;
            collector->result.accept_errors = accept_errors;
            collector->done_one();
          },
          [=](caf::error&) {
            collector->failed = true;
            collector->done_one();
          });
      return collector->rp;
    },
    [=](health_atom,
        const std::string& secret) -> caf::result<std::vector<health_row>> {
      if (!secret_matches(self->state.config.secret, secret))
        return refused_error();
      return ask_groups<std::vector<health_row>>(self, health_atom::value, 0)
        ->rp;
    },
    [=](command_atom, const std::string& secret,
        control_command cmd) -> caf::result<int32_t> {
      auto& cfg = self->state.config;
      if (!secret_matches(cfg.secret, secret))
        return refused_error();
      if (cmd.group >= cfg.directory->size())
        return static_cast<int32_t>(reply::unknown_group);
      if (!is_enumerator(cmd.what))
        return caf::make_error(caf::sec::unexpected_message);
      // During an upgrade the state has gone to the new process already,
      // and after it this one is not the instance: a change here is lost.
      if (cfg.life
          && (cfg.life->phase() == lifecycle_phase::upgrading
              || cfg.life->handed_over()))
        return busy_error();
      if (cmd.what == verb::create || cmd.what == verb::assign)
        resolve_in_place(cmd.host);
      auto rp = self->make_response_promise<int32_t>();
      self
        ->request(cfg.directory->actor(cmd.group), ask_timeout,
                  command_atom::value, cmd)
        .then([=](int32_t code) mutable { rp.deliver(code); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](kill_atom, const std::string& secret) -> caf::result<int32_t> {
      auto& cfg = self->state.config;
      if (!secret_matches(cfg.secret, secret))
        return refused_error();
      if (self->state.killing) {
        log::notice("kill: already under way");
        return static_cast<int32_t>(reply::already); // the client waits
      }
      self->state.killing = true;
      log::notice("kill: closing the listener");
      auto rp = self->make_response_promise<int32_t>();
      self->request(cfg.listener, ask_timeout, stop_atom::value)
        .then(
          [=](uint64_t closing) mutable {
            auto& cfg = self->state.config;
            log::notice("kill: listener closed, closing "
                        + std::to_string(closing) + " connections");
            cfg.registry->wait_empty(std::chrono::steady_clock::now()
                                     + drain_timeout);
            if (cfg.on_killed)
              cfg.on_killed();
            rp.deliver(static_cast<int32_t>(reply::ok));
          },
          [=](caf::error& err) mutable {
            // An io thread too busy to close its acceptor in time: this
            // kill failed, and says so; a later one may try again.
            log::notice("kill: the listener did not close in time ("
                        + self->system().render(err) + ")");
            self->state.killing = false;
            rp.deliver(std::move(err));
          });
      return rp;
    },
    [=](drain_atom, const std::string& secret) -> caf::result<int32_t> {
      if (!secret_matches(self->state.config.secret, secret))
        return refused_error();
      return on_drain(self);
    },
    [=](upgrade_atom, const std::string& secret, const std::string& path)
      -> caf::result<int32_t, int32_t, std::string> {
      if (!secret_matches(self->state.config.secret, secret))
        return refused_error();
      return on_upgrade(self, path);
    },
    [=](lifecycle_atom, const std::string& secret)
      -> caf::result<uint32_t, uint64_t, int32_t> {
      if (!secret_matches(self->state.config.secret, secret))
        return refused_error();
      return on_lifecycle(self);
    },
  };
}

} // namespace balance

namespace balance {

control_actor::behavior_type control_front(control_actor::pointer self,
                                           control_actor inner,
                                           std::string secret) {
  ignore_system_messages(self);
  return {
    [=](show_atom, const std::string&) {
      return self->delegate(inner, show_atom::value, secret);
    },
    [=](command_atom, const std::string&, const control_command& cmd) {
      return self->delegate(inner, command_atom::value, secret, cmd);
    },
    [=](kill_atom, const std::string&) {
      return self->delegate(inner, kill_atom::value, secret);
    },
    [=](health_atom, const std::string&) {
      return self->delegate(inner, health_atom::value, secret);
    },
    [=](drain_atom, const std::string&) {
      return self->delegate(inner, drain_atom::value, secret);
    },
    [=](upgrade_atom, const std::string&, const std::string& path) {
      return self->delegate(inner, upgrade_atom::value, secret, path);
    },
    [=](lifecycle_atom, const std::string&) {
      return self->delegate(inner, lifecycle_atom::value, secret);
    },
  };
}

} // namespace balance
