#include "cli/instance.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <malloc.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include <caf/io/all.hpp>

#include "actors/control.hpp"
#include "actors/listener.hpp"
#include "actors/scheduler.hpp"
#include "cli/control_plane.hpp"
#include "cli/exit.hpp"
#include "cli/instance_health.hpp"
#include "cli/instance_loop.hpp"
#include "cli/metrics_scrape.hpp"
#include "cli/rendezvous.hpp"
#include "cli/sd_notify.hpp"
#include "cli/upgrade.hpp"
#include "core/limits.hpp"
#include "core/packet_dump.hpp"
#include "log/log.hpp"
#include "net/connection_registry.hpp"
#include "net/pipe_pool.hpp"

namespace balance::cli {

namespace {

std::size_t default_threads() {
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// -- the steps of run_instance, in order ----------------------------------

/// The actor system's configuration.
caf::actor_system_config& configure_actors(caf::actor_system_config& cfg,
                                           const options& opts) {
  auto actor_threads = opts.caf_threads > 0
                         ? opts.caf_threads
                         : static_cast<int>(default_threads());
  cfg.set("scheduler.max-threads", actor_threads);
  // Work stealing polls with short sleeps while idle: on a small box that
  // costs CPU and adds wake-up latency to every connection. A shared queue
  // with a condition variable wakes exactly when there is work.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  register_types(cfg);
  // The middleman opens no socket of its own: control connections come
  // through the gate (cli/control_plane), already authenticated.
  cfg.load<caf::io::middleman>();
  return cfg;
}

/// Pipes hold two descriptors each: at most a sixteenth of the limit goes
/// to them, so that sockets never go short because of the splice pool.
void size_pools(std::size_t io_threads) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    net::set_pipe_budget(
      std::max<std::size_t>(4, static_cast<std::size_t>(rl.rlim_cur) / 32
                                 / std::max<std::size_t>(1, io_threads)));
}

/// What every connection of the instance shares.
std::shared_ptr<net::relay_settings>
relay_settings_for(const options& opts, net::connection_registry& registry,
                   packet_dump* dump) {
  auto settings = std::make_shared<net::relay_settings>();
  settings->registry = &registry;
  settings->connect_timeout = std::chrono::seconds(opts.connect_timeout);
  settings->idle_timeout = std::chrono::seconds(opts.idle_timeout);
  settings->dump = dump;
  settings->out_bind = opts.out_bind; // resolved and checked by main
  settings->send_proxy = opts.send_proxy;
  settings->accept_proxy = opts.accept_proxy;
  return settings;
}

/// A scheduler actor per group of `dir`, each publishing its group's
/// configuration: the command line's, or the one an upgrade carried over.
void spawn_groups(caf::actor_system& sys, const options& opts,
                  group_directory& dir, const scheduler_hooks& hooks,
                  const handover_state* carried) {
  for (std::size_t g = 0; g < max_groups; ++g) {
    group_policy policy;
    policy.set_owner(&dir, static_cast<uint32_t>(g));
    policy.hash_failover = opts.hash_failover;
    policy.autodisable = opts.autodisable;
    policy.health = health_rules_for(opts.checks);
    if (carried) {
      if (g < carried->groups.size())
        restore_group(policy, carried->groups[g]);
    } else if (g < opts.groups.size()) {
      policy.type = opts.groups[g].type;
      for (auto& ch : opts.groups[g].channels)
        policy.add(ch.target, ch.maxc);
    }
    // The actor publishes its first configuration as it starts; publish
    // it here too so that no client can see an empty group before that.
    dir.publish(g, policy);
    dir.set_actor(g, sys.spawn(scheduler, static_cast<uint32_t>(g),
                               std::move(policy), &dir, hooks));
  }
}

/// The listener, accepting on every io thread from now on.
listener_actor spawn_listener(caf::actor_system& sys, net::io_pool& pool,
                              std::vector<int> listen_fds,
                              std::shared_ptr<net::relay_settings> settings,
                              directory_ptr directory) {
  listener_config lcfg;
  lcfg.pool = &pool;
  lcfg.listen_fds = std::move(listen_fds);
  lcfg.registry = settings->registry;
  lcfg.settings = std::move(settings);
  lcfg.directory = std::move(directory);
  return sys.spawn(listener, lcfg);
}

} // namespace

int run_instance(const options& opts, instance_start& start,
                 readiness& ready) {
  // One malloc arena: the per-connection objects are small and served by
  // glibc's per-thread caches anyway, and a second arena per io thread
  // costs about 10 % more memory per idle connection (measured with 4 000).
  mallopt(M_ARENA_MAX, 1);
  instance_loop loop;
  loop.stop_signals = block_stop_signals();

  const handover* handed = start.handed ? &*start.handed : nullptr;
  const handover_state* carried = handed ? &handed->state : nullptr;
  std::string error;
  int code = ex_ok;
  auto path = control_file_for(opts, handed, code, error);
  if (!path) {
    ready.fail(code, error);
    return code;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{configure_actors(cfg, opts)};

  net::io_pool pool(opts.io_threads > 0 ? opts.io_threads : default_threads());
  size_pools(pool.size());
  std::unique_ptr<packet_dump> dump;
  if (opts.packet_dump)
    dump = std::make_unique<packet_dump>(stdout);
  net::connection_registry registry;
  auto settings = relay_settings_for(opts, registry, dump.get());
  auto directory = std::make_shared<group_directory>(max_groups);
  auto checks = make_health_checks(opts, pool, directory);
  spawn_groups(sys, opts, *directory,
               hooks_for(opts, registry, checks.get()), carried);
  pool.start();
  if (checks)
    checks->start();
  auto listener = spawn_listener(sys, pool, start.listen_fds, settings,
                                 directory);

  // Publish control: the gate's doors, the control actor, the rendezvous
  // file (in an upgrade: the same secret, the doors handed over, the file
  // rewritten with our pid).
  auto life = std::make_shared<lifecycle>();
  auto upgrade = std::make_unique<upgrade_context>();
  std::atomic<bool> killed{false};
  control_config ccfg;
  ccfg.secret = carried ? carried->token : make_secret();
  ccfg.directory = directory;
  ccfg.listener = listener;
  ccfg.registry = &registry;
  if (carried)
    ccfg.started -= std::chrono::seconds(carried->uptime_seconds);
  upgrade->life = life;
  enable_lifecycle(ccfg, *upgrade, std::chrono::seconds(opts.drain_timeout));
  ccfg.on_killed = [&] {
    if (!life->handed_over())
      sd_notify_state("STOPPING=1");
    killed = true;
  };
  control_plane control{sys, ccfg};
  if (auto err = control.open(opts, *path,
                              {start.control_local, start.control_tcp});
      !err.empty()) {
    ready.fail(ex_oserr, err);
    exit_now(ex_oserr);
  }
  // --metrics-listen: read-only, so it needs no secret of its scrapers.
  std::unique_ptr<net::metrics_server> metrics;
  if (opts.metrics_endpoint) {
    metrics = std::make_unique<net::metrics_server>(
      metrics_source_for(sys, control, ccfg.secret, life));
    std::string err;
    if (start.metrics >= 0 ? !metrics->adopt(start.metrics, err)
                           : !metrics->listen(*opts.metrics_endpoint, err)) {
      ready.fail(ex_oserr, "cannot listen for metrics on "
                             + opts.metrics_listen + ": " + err);
      exit_now(ex_oserr);
    }
    metrics->start();
    log::debug("metrics on http://" + opts.metrics_endpoint->to_string()
               + "/metrics");
  }
  upgrade->sys = &sys;
  upgrade->listener = listener;
  upgrade->control = &control;
  upgrade->directory = directory;
  upgrade->pool = &pool;
  upgrade->metrics = metrics.get();
  upgrade->launch = start.launch;
  upgrade->secret = ccfg.secret;
  upgrade->rendezvous_path = *path;
  upgrade->started = ccfg.started;
  log::debug("listening on port " + std::to_string(opts.port));
  ready.ok();
  if (start.handed)
    settle_after_handover(*start.handed, opts.foreground);
  // Under systemd (Type=notify): listening and controllable from here on;
  // after an upgrade, systemd follows this process (MAINPID).
  sd_notify_state("READY=1\nSTATUS=0 connections\nMAINPID="
                  + std::to_string(::getpid()));

  // (No STATUS sent yet for the loop: its first round repeats READY's.)
  loop = {loop.stop_signals, &killed, &control, &sys, listener, &registry,
          life.get(), ccfg.secret, {}};
  run_until_stopped(loop);
  end_pending_successor(*upgrade);
  if (metrics)
    metrics->stop();

  // Give the middleman a moment to deliver the reply to `kill`. Then leave
  // without tearing the actor system down: the listener, every connection
  // and the rendezvous file are gone already, and a teardown would race
  // sessions against the io threads for no operator-visible gain.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  pool.stop();
  std::fflush(nullptr);
  exit_now(ex_ok);
}

} // namespace balance::cli
