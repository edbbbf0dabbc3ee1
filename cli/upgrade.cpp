#include "cli/upgrade.hpp"

#include <csignal>
#include <unistd.h>

#include <caf/all.hpp>

#include "cli/control_plane.hpp"
#include "cli/sd_notify.hpp"
#include "core/handover_state.hpp"
#include "log/log.hpp"
#include "net/io_pool.hpp"
#include "net/metrics_server.hpp"

namespace balance::cli {

namespace {

constexpr auto listener_timeout = std::chrono::seconds(3);
/// Holding the io threads for the fork: a thread busy for longer (a -p
/// dump blocked on its terminal) makes the upgrade fail rather than wait.
constexpr auto pause_limit = std::chrono::seconds(2);

/// A duplicate of each listening socket, from the listener (which knows
/// they are all still open); empty if it is closing them.
std::vector<int> listening_sockets(upgrade_context& ctx) {
  std::vector<int> fds;
  caf::scoped_actor self{*ctx.sys};
  self->request(ctx.listener, listener_timeout, fds_atom::value)
    .receive([&](std::vector<int>& got) { fds = std::move(got); },
             [](caf::error&) {});
  return fds;
}

/// The groups as the schedulers last published them, with the counters
/// as they are now; trailing groups nobody touched are left out.
handover_state capture_state(upgrade_context& ctx) {
  handover_state state;
  state.token = ctx.secret;
  state.pid = static_cast<int32_t>(::getpid());
  state.uptime_seconds = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - ctx.started)
      .count());
  state.rendezvous = ctx.rendezvous_path;
  for (std::size_t g = 0; g < ctx.directory->size(); ++g)
    state.groups.push_back(capture_group(*ctx.directory->view(g)));
  while (!state.groups.empty() && state.groups.back().channels.empty()
         && state.groups.back().type == group_type::round_robin)
    state.groups.pop_back();
  return state;
}

void close_fds(const successor_plan& plan) {
  for (int fd : plan.proxy_fds)
    ::close(fd);
  for (int fd : {plan.control_local, plan.control_tcp, plan.metrics})
    if (fd >= 0)
      ::close(fd);
}

} // namespace

upgrade_outcome run_upgrade(upgrade_context& ctx, const std::string& path) {
  upgrade_outcome out;
  std::string error;
  successor_plan plan;
  plan.binary = upgrade_binary(path, ctx.launch, error);
  if (plan.binary.empty()) {
    out.message = error;
    return out;
  }
  plan.launch = ctx.launch;
  plan.proxy_fds = listening_sockets(ctx);
  auto doors = ctx.control->duplicate_doors();
  plan.control_local = doors.local;
  plan.control_tcp = doors.tcp;
  plan.metrics = ctx.metrics ? ctx.metrics->duplicate_listener() : -1;
  // The state last: a change the control actor accepted before the
  // upgrade began is in it (commands are refused from then on).
  plan.state = serialize(capture_state(ctx));
  auto started = start_successor(
    plan, [&] { return ctx.pool->pause(pause_limit); }, successor_ready_limit,
    ctx.pending_child);
  close_fds(plan); // the new process has its own copies
  if (!started.ok) {
    ctx.control->reclaim_file();
    out.message = started.message;
    return out;
  }
  // systemd follows the new process (this one is the main pid still, so
  // the message is accepted even under NotifyAccess=main); from now on
  // this process says nothing to systemd.
  sd_notify_state("MAINPID=" + std::to_string(started.pid)
                  + "\nSTATUS=handed over to process "
                  + std::to_string(started.pid));
  ctx.life->hand_over(started.pid);
  ctx.control->hand_over();
  // Scrapes go to the new process, whose counters are the instance's.
  if (ctx.metrics)
    ctx.metrics->stop();
  out.code = lifecycle_reply::ok;
  out.pid = started.pid;
  return out;
}

void enable_lifecycle(control_config& cfg, upgrade_context& ctx,
                      std::chrono::seconds drain_timeout) {
  cfg.life = ctx.life;
  cfg.drain_timeout = drain_timeout;
  cfg.on_drain = [life = ctx.life](uint64_t live) {
    if (!life->handed_over()) // else the new process speaks for it
      sd_notify_state("STOPPING=1\nSTATUS=draining: " + std::to_string(live)
                      + " connections left");
  };
  cfg.upgrade = [ctx = &ctx](const std::string& binary) {
    return run_upgrade(*ctx, binary);
  };
}

void end_pending_successor(upgrade_context& ctx) {
  if (int child = ctx.pending_child.load(); child > 0) {
    ::kill(-child, SIGKILL);
    ::kill(child, SIGKILL);
  }
}

} // namespace balance::cli
