// The control actor's drain, upgrade and lifecycle requests: the order of
// their steps (the listener, the instance's callbacks, the replies); the
// process work itself is the instance's (cli/upgrade.cpp).
#include "actors/control.hpp"

#include "log/log.hpp"

namespace balance {

namespace {

constexpr auto listener_timeout = std::chrono::seconds(3);
/// The upgrade bounds itself (10 s for the new process to be ready, plus
/// reaping it); this only keeps a runner that hangs from holding the reply
/// for ever.
constexpr auto upgrade_timeout = std::chrono::seconds(60);

using upgrade_function = std::function<upgrade_outcome(const std::string&)>;

upgrade_runner_actor::behavior_type
upgrade_runner(upgrade_runner_actor::pointer, upgrade_function run) {
  return {
    [=](upgrade_atom, const std::string& path) {
      auto out = run(path);
      return caf::make_result(static_cast<int32_t>(out.code), out.pid,
                              std::move(out.message));
    },
  };
}

int32_t code(lifecycle_reply r) {
  return static_cast<int32_t>(r);
}

/// The listeners are closed (or would not close in time): the drain runs.
void drain_begun(control_pointer self, uint64_t live) {
  auto& cfg = self->state.config;
  if (!cfg.life->begin_drain(cfg.drain_timeout))
    return;
  log::notice("draining: listener closed, " + std::to_string(live)
              + " connections left"
              + (cfg.drain_timeout.count() > 0
                   ? ", at most " + std::to_string(cfg.drain_timeout.count())
                       + " s"
                   : std::string(", no time limit")));
  if (cfg.on_drain)
    cfg.on_drain(live);
}

} // namespace

caf::result<int32_t> on_drain(control_pointer self) {
  auto& st = self->state;
  auto& life = st.config.life;
  if (!life)
    return caf::make_error(caf::sec::feature_disabled);
  if (life->draining() || st.drain_requested)
    return code(lifecycle_reply::already);
  if (life->phase() == lifecycle_phase::upgrading)
    return code(lifecycle_reply::busy);
  // Draining starts once no client can come in any more: the main loop
  // ends the process when the last connection is gone.
  st.drain_requested = true;
  auto rp = self->make_response_promise<int32_t>();
  self->request(st.config.listener, listener_timeout, drain_atom::value, true)
    .then(
      [=](uint64_t live) mutable {
        drain_begun(self, live);
        rp.deliver(code(lifecycle_reply::ok));
      },
      [=](caf::error& err) mutable {
        // An io thread too busy to close its acceptor in time: say so; a
        // later drain may try again.
        log::notice("drain: the listener did not close in time ("
                    + self->system().render(err) + ")");
        self->state.drain_requested = false;
        rp.deliver(std::move(err));
      });
  return rp;
}

caf::result<int32_t, int32_t, std::string>
on_upgrade(control_pointer self, const std::string& path) {
  auto& st = self->state;
  auto& cfg = st.config;
  if (!cfg.life || !cfg.upgrade)
    return caf::make_error(caf::sec::feature_disabled);
  if (cfg.life->draining() || st.drain_requested)
    return caf::make_result(code(lifecycle_reply::draining),
                            cfg.life->successor(), std::string{});
  if (!cfg.life->begin_upgrade())
    return caf::make_result(code(lifecycle_reply::busy), int32_t{0},
                            std::string{});
  log::notice("upgrade: starting " + (path.empty() ? "the binary" : path));
  st.runner = self->spawn<caf::detached>(upgrade_runner, cfg.upgrade);
  auto rp = self->make_response_promise<int32_t, int32_t, std::string>();
  self->request(st.runner, upgrade_timeout, upgrade_atom::value, path)
    .then(
      [=](int32_t result, int32_t pid, std::string& message) mutable {
        self->state.runner = nullptr;
        auto& cfg = self->state.config;
        if (result != code(lifecycle_reply::ok)) {
          cfg.life->abort_upgrade();
          log::notice("upgrade failed: " + message);
          rp.deliver(result, pid, std::move(message));
          return;
        }
        // The new process owns the listening sockets and the control
        // endpoint now: stop accepting here (no backlog to take, the new
        // process accepts from the same sockets) and drain.
        log::notice("upgrade: process " + std::to_string(pid)
                    + " took over; draining");
        self->state.drain_requested = true;
        self
          ->request(cfg.listener, listener_timeout, drain_atom::value, false)
          .then(
            [=](uint64_t live) mutable {
              drain_begun(self, live);
              rp.deliver(result, pid, message);
            },
            [=](caf::error&) mutable {
              // Still accepting beside the new process, but not for long:
              // the drain's deadline ends this one.
              drain_begun(self, 0);
              rp.deliver(result, pid, message);
            });
      },
      [=](caf::error& err) mutable {
        self->state.runner = nullptr;
        self->state.config.life->abort_upgrade();
        rp.deliver(code(lifecycle_reply::failed), int32_t{0},
                   "the upgrade did not finish: "
                     + self->system().render(err));
      });
  return rp;
}

caf::result<uint32_t, uint64_t, int32_t> on_lifecycle(control_pointer self) {
  lifecycle_status s;
  if (auto& life = self->state.config.life)
    s = life->status();
  return caf::make_result(static_cast<uint32_t>(s.phase), s.drain_seconds_left,
                          s.successor_pid);
}

} // namespace balance
