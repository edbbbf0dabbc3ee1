#include "cli/instance_loop.hpp"

#include <caf/all.hpp>

#include "cli/control_plane.hpp"
#include "cli/daemon.hpp"
#include "cli/sd_notify.hpp"
#include "log/log.hpp"
#include "net/connection_registry.hpp"

namespace balance::cli {

namespace {

constexpr auto tick = std::chrono::milliseconds(100);
constexpr int ticks_per_round = 10; ///< STATUS and the watchdog: each second
constexpr auto stop_limit = std::chrono::seconds(3);

/// SIGTERM and friends: closed now, as `kill` does.
void stop_now(instance_loop& loop, int sig) {
  log::notice("signal " + std::to_string(sig) + ": shutting down");
  if (!loop.life->handed_over())
    sd_notify_state("STOPPING=1");
  caf::scoped_actor self{*loop.sys};
  self->request(loop.listener, stop_limit, stop_atom::value)
    .receive([](uint64_t) {}, [](caf::error&) {});
  loop.registry->wait_empty(std::chrono::steady_clock::now() + stop_limit);
}

/// SIGQUIT: the same request as `balance -c drain` (nginx's convention).
void ask_to_drain(instance_loop& loop) {
  log::notice("SIGQUIT: draining");
  caf::scoped_actor self{*loop.sys};
  self
    ->request(loop.control->control_handle(), stop_limit, drain_atom::value,
              loop.secret)
    .receive([](int32_t) {},
             [&](caf::error& err) {
               log::error("SIGQUIT: drain failed: "
                          + loop.sys->render(err));
             });
}

/// Whether a drain is over: nothing left, or the rest cut at the deadline.
bool drain_over(instance_loop& loop) {
  if (!loop.life->draining())
    return false;
  if (loop.registry->size() == 0) {
    log::notice("drained: the last connection is gone");
    return true;
  }
  if (!loop.life->drain_expired())
    return false;
  // Reset, never a FIN: these transfers did not finish.
  auto cut = loop.registry->cut_all();
  log::notice("drain timeout: resetting " + std::to_string(cut)
              + " connections");
  loop.registry->wait_empty(std::chrono::steady_clock::now() + stop_limit);
  return true;
}

void report_status(instance_loop& loop) {
  if (loop.life->handed_over())
    return; // the new process speaks for the instance
  auto live = std::to_string(loop.registry->size());
  auto status = loop.life->draining()
                  ? "STATUS=draining: " + live + " connections left"
                  : "STATUS=" + live + " connections";
  // Only news: an idle instance does not fill the reader's queue. No wait
  // for a reader that lags: the next round tries again.
  if (status != loop.status_sent
      && sd_notify_state(status, std::chrono::milliseconds(0)))
    loop.status_sent = std::move(status);
}

} // namespace

sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  for (int sig : {SIGINT, SIGHUP, SIGQUIT})
    if (!inherited_ignore(sig)) // nohup: a blocked signal is never ignored
      sigaddset(&stop_signals, sig);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

void run_until_stopped(instance_loop& loop) {
  for (unsigned ticks = 1; !*loop.killed; ++ticks) {
    timespec wait{0, std::chrono::nanoseconds(tick).count()};
    int sig = sigtimedwait(&loop.stop_signals, nullptr, &wait);
    if (*loop.killed)
      break;
    if (sig == SIGQUIT) {
      ask_to_drain(loop);
      continue;
    }
    if (sig <= 0 && ticks % ticks_per_round == 0) {
      report_status(loop);
      if (!loop.control->watch()) {
        log::error("control cannot be restored: shutting down");
        sig = SIGTERM;
      }
    }
    if (sig > 0) {
      stop_now(loop, sig);
      break;
    }
    if (drain_over(loop))
      break;
  }
  // After `kill` the gate stays up: its reply still travels through it.
  if (!*loop.killed)
    loop.control->close();
}

} // namespace balance::cli
