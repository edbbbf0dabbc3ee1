// An upgrade, from the running instance's side: gathers what the new
// process needs (the listening sockets, the control doors, the runtime
// state), starts it (cli/successor.hpp), and once it is ready hands the
// instance over to it; the control actor then drains this process.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "actors/control.hpp"
#include "cli/successor.hpp"

namespace balance::net {
class io_pool;
class metrics_server;
} // namespace balance::net

namespace balance::cli {

class control_plane;

/// What an upgrade reads from the instance (all outlive it).
struct upgrade_context {
  caf::actor_system* sys = nullptr;
  listener_actor listener;
  control_plane* control = nullptr;
  directory_ptr directory;
  net::io_pool* pool = nullptr;
  net::metrics_server* metrics = nullptr; ///< --metrics-listen, or null
  std::shared_ptr<lifecycle> life;
  launch_info launch;
  std::string secret;
  std::string rendezvous_path;
  std::chrono::steady_clock::time_point started;
  /// The new process while it starts (a `kill` or signal meanwhile ends it).
  std::atomic<int> pending_child{0};
};

/// How long the new process has to say it is ready.
constexpr auto successor_ready_limit = std::chrono::seconds(10);

/// Runs one upgrade to `path` ("" = the running binary); blocking.
upgrade_outcome run_upgrade(upgrade_context& ctx, const std::string& path);

/// The control actor's part in drains and upgrades: the phase
/// (`ctx.life`, set), the drain's time limit and its STOPPING to systemd,
/// upgrades run on `ctx` (filled in by the time one comes).
void enable_lifecycle(control_config& cfg, upgrade_context& ctx,
                      std::chrono::seconds drain_timeout);

/// The instance stops (kill, a signal) while a new process is starting:
/// that one goes too, it must not take over an instance that stopped.
void end_pending_successor(upgrade_context& ctx);

} // namespace balance::cli
