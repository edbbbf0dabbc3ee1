#include "cli/instance.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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
#include "cli/metrics_scrape.hpp"
#include "cli/rendezvous.hpp"
#include "cli/sd_notify.hpp"
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

/// Blocks the signals that stop the instance (wait_for_stop takes them
/// with sigtimedwait; every thread started later inherits the mask) and
/// ignores SIGPIPE.
sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  for (int sig : {SIGINT, SIGHUP})
    if (!inherited_ignore(sig)) // nohup: a blocked signal is never ignored
      sigaddset(&stop_signals, sig);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

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
/// configuration.
void spawn_groups(caf::actor_system& sys, const options& opts,
                  group_directory& dir, const scheduler_hooks& hooks) {
  for (std::size_t g = 0; g < max_groups; ++g) {
    group_policy policy;
    policy.set_owner(&dir, static_cast<uint32_t>(g));
    policy.hash_failover = opts.hash_failover;
    policy.autodisable = opts.autodisable;
    policy.health = health_rules_for(opts.checks);
    if (g < opts.groups.size()) {
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
                              int listen_fd,
                              std::shared_ptr<net::relay_settings> settings,
                              directory_ptr directory) {
  listener_config lcfg;
  lcfg.pool = &pool;
  lcfg.listen_fd = listen_fd;
  lcfg.registry = settings->registry;
  lcfg.settings = std::move(settings);
  lcfg.directory = std::move(directory);
  return sys.spawn(listener, lcfg);
}

/// Returns once `kill` has run (`killed`) or a signal came; after a signal
/// it closes the listener and every connection itself (bounded) and the
/// control plane. About once a second the control plane's watchdog runs;
/// when control cannot be restored the instance stops as on SIGTERM.
void wait_for_stop(const sigset_t& stop_signals,
                   const std::atomic<bool>& killed, control_plane& control,
                   caf::actor_system& sys, const listener_actor& listener,
                   net::connection_registry& registry) {
  for (unsigned ticks = 1; !killed; ++ticks) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig <= 0 && ticks % 10 == 0)
      sd_notify_state("STATUS=" + std::to_string(registry.size())
                      + " connections");
    if (sig <= 0 && ticks % 10 == 0 && !control.watch()) {
      log::error("control cannot be restored: shutting down");
      sig = SIGTERM;
    }
    if (sig > 0 && !killed) {
      log::notice("signal " + std::to_string(sig) + ": shutting down");
      sd_notify_state("STOPPING=1");
      caf::scoped_actor self{sys};
      self->request(listener, std::chrono::seconds(3), stop_atom::value)
        .receive([](uint64_t) {}, [](caf::error&) {});
      registry.wait_empty(std::chrono::steady_clock::now()
                          + std::chrono::seconds(3));
      control.close();
      return;
    }
  }
}

} // namespace

int run_instance(const options& opts, int listen_fd, readiness& ready) {
  // One malloc arena: the per-connection objects are small and served by
  // glibc's per-thread caches anyway, and a second arena per io thread
  // costs about 10 % more memory per idle connection (measured with 4 000).
  mallopt(M_ARENA_MAX, 1);
  auto stop_signals = block_stop_signals();

  std::string error;
  auto path = prepare_rendezvous_path(
    rendezvous_name(opts.port, opts.bind_host), error);
  if (!path) {
    ready.fail(ex_oserr, error);
    return ex_oserr;
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
               hooks_for(opts, registry, checks.get()));
  pool.start();
  if (checks)
    checks->start();
  auto listener = spawn_listener(sys, pool, listen_fd, settings, directory);

  // Publish control: the gate's doors, the control actor, the rendezvous
  // file.
  std::atomic<bool> killed{false};
  control_config ccfg;
  ccfg.secret = make_secret();
  ccfg.directory = directory;
  ccfg.listener = listener;
  ccfg.registry = &registry;
  ccfg.on_killed = [&] {
    sd_notify_state("STOPPING=1");
    killed = true;
  };
  control_plane control{sys, ccfg};
  if (auto err = control.open(opts, *path); !err.empty()) {
    ready.fail(ex_oserr, err);
    exit_now(ex_oserr);
  }
  // --metrics-listen: read-only, so it needs no secret of its scrapers.
  std::unique_ptr<net::metrics_server> metrics;
  if (opts.metrics_endpoint) {
    metrics = std::make_unique<net::metrics_server>(
      metrics_source_for(sys, control, ccfg.secret));
    std::string err;
    if (!metrics->listen(*opts.metrics_endpoint, err)) {
      ready.fail(ex_oserr, "cannot listen for metrics on "
                             + opts.metrics_listen + ": " + err);
      exit_now(ex_oserr);
    }
    metrics->start();
    log::debug("metrics on http://" + opts.metrics_endpoint->to_string()
               + "/metrics");
  }
  log::debug("listening on port " + std::to_string(opts.port));
  ready.ok();
  // Under systemd (Type=notify): listening and controllable from here on.
  sd_notify_state("READY=1\nSTATUS=0 connections\nMAINPID="
                  + std::to_string(::getpid()));

  wait_for_stop(stop_signals, killed, control, sys, listener, registry);
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
