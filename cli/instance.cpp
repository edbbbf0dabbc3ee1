#include "cli/instance.hpp"

#include <atomic>
#include <csignal>
#include <malloc.h>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/control.hpp"
#include "actors/limits.hpp"
#include "actors/listener.hpp"
#include "actors/scheduler.hpp"
#include "cli/exit.hpp"
#include "cli/rendezvous.hpp"
#include "cli/tls.hpp"
#include "net/log.hpp"
#include "net/packet_dump.hpp"

namespace balance::cli {

namespace {

std::size_t default_threads() {
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

directory_ptr spawn_groups(caf::actor_system& sys, const options& opts) {
  auto dir = std::make_shared<group_directory>(max_groups);
  for (std::size_t g = 0; g < max_groups; ++g) {
    group_policy policy;
    policy.hash_failover = opts.hash_failover;
    policy.autodisable = opts.autodisable;
    if (g < opts.groups.size()) {
      policy.type = opts.groups[g].type;
      for (auto& ch : opts.groups[g].channels)
        policy.add(ch.target, ch.maxc);
    }
    // The actor publishes its first configuration as it starts; publish
    // it here too so that no client can see an empty group before that.
    dir->publish(g, policy);
    dir->set_actor(g, sys.spawn(scheduler, static_cast<uint32_t>(g),
                                std::move(policy), dir.get()));
  }
  return dir;
}

bool split_host_port(const std::string& text, std::string& host,
                     uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return false;
  host = text.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto p = net::parse_port(text.substr(colon + 1));
  if (!p || host.empty())
    return false;
  port = *p;
  return true;
}

bool is_loopback(const std::string& host) {
  auto ep = net::parse_numeric_address(host);
  return ep && ((!ep->v6 && ep->bytes[0] == 127)
                || (ep->v6 && ep->address_text() == "::1"));
}

} // namespace

int run_instance(const options& opts, int listen_fd, readiness& ready) {
  // One malloc arena: the per-connection objects are small and served by
  // glibc's per-thread caches anyway, and a second arena per io thread
  // costs about 10 % more memory per idle connection (measured with 4 000).
  mallopt(M_ARENA_MAX, 1);
  // Signals are taken by sigtimedwait below; every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::string remote_host;
  uint16_t remote_port = 0;
  bool remote_tls = false;
  if (!opts.control_listen.empty()) {
    if (!split_host_port(opts.control_listen, remote_host, remote_port)) {
      ready.fail(ex_usage, "invalid --control-listen '" + opts.control_listen
                             + "' (want addr:port)");
      return ex_usage;
    }
    remote_tls = opts.tls.any(); // validated by main before daemonising
    if (!remote_tls && !opts.insecure_control && !is_loopback(remote_host)) {
      ready.fail(ex_usage,
                 "--control-listen " + opts.control_listen
                   + " is not loopback: give --tls-cert/--tls-key/--tls-ca "
                     "(mutual TLS) or say --insecure-control");
      return ex_usage;
    }
  }

  std::string error;
  auto path = prepare_rendezvous_path(rendezvous_name(opts.port,
                                                      opts.bind_host),
                                      error);
  if (!path) {
    ready.fail(ex_oserr, error);
    return ex_oserr;
  }

  caf::actor_system_config cfg;
  auto actor_threads = opts.caf_threads > 0 ? opts.caf_threads
                                            : static_cast<int>(default_threads());
  cfg.set("scheduler.max-threads", actor_threads);
  // Work stealing polls with short sleeps while idle: on a small box that
  // costs CPU and adds wake-up latency to every connection. A shared queue
  // with a condition variable wakes exactly when there is work.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  if (remote_tls) {
    apply_tls(cfg, opts.tls); // absolute, validated by main
    cfg.load<caf::openssl::manager>();
  }
  caf::actor_system sys{cfg};

  net::io_pool pool(opts.io_threads > 0 ? opts.io_threads : default_threads());
  std::unique_ptr<net::packet_dump> dump;
  if (opts.packet_dump)
    dump = std::make_unique<net::packet_dump>(stdout);
  net::connection_registry registry;
  auto settings = std::make_shared<net::relay_settings>();
  settings->registry = &registry;
  settings->connect_timeout = std::chrono::seconds(opts.connect_timeout);
  settings->idle_timeout = std::chrono::seconds(opts.idle_timeout);
  settings->dump = dump.get();
  if (!opts.out_bind_host.empty()) {
    std::string error;
    settings->out_bind = net::resolve_host(opts.out_bind_host,
                                           net::family::any, error);
  }
  auto directory = spawn_groups(sys, opts);

  listener_config lcfg;
  lcfg.pool = &pool;
  lcfg.listen_fd = listen_fd;
  lcfg.settings = settings;
  lcfg.directory = directory;
  lcfg.registry = &registry;
  pool.start();
  auto lst = sys.spawn(listener, lcfg);

  std::atomic<bool> killed{false};
  std::string rendezvous_path;
  control_config ccfg;
  ccfg.secret = make_secret();
  ccfg.directory = directory;
  ccfg.listener = lst;
  ccfg.registry = &registry;
  auto remove_files = [&] {
    if (!rendezvous_path.empty())
      ::unlink(rendezvous_path.c_str());
  };
  ccfg.on_killed = [&] {
    remove_files();
    killed = true;
  };
  auto ctl = sys.spawn<caf::detached>(control, ccfg);

  // Local control is plain BASP on loopback, guarded by the secret. (Mutual
  // TLS here too was tried: CAF 0.17's TLS sessions stall under a handful
  // of concurrent clients, which MRTG setups produce; see architecture.md.)
  auto published = sys.middleman().publish(ctl, 0, "127.0.0.1");
  if (!published) {
    ready.fail(ex_oserr, "cannot publish the control actor: "
                           + sys.render(published.error()));
    exit_now(ex_oserr);
  }
  if (!opts.control_listen.empty()) {
    caf::expected<uint16_t> remote = caf::sec::runtime_error;
    if (remote_tls) {
      auto front = sys.spawn(control_front, ctl, ccfg.secret);
      remote = caf::openssl::publish(front, remote_port, remote_host.c_str(),
                                     true);
    } else {
      remote = sys.middleman().publish(ctl, remote_port, remote_host.c_str(),
                                       true);
    }
    if (!remote) {
      ready.fail(ex_oserr, "cannot publish control on "
                             + opts.control_listen + ": "
                             + sys.render(remote.error()));
      exit_now(ex_oserr);
    }
  }

  rendezvous rv{static_cast<int>(::getpid()), "127.0.0.1", *published,
                ccfg.secret};
  if (!write_rendezvous(*path, rv, error)) {
    ready.fail(ex_oserr, error);
    exit_now(ex_oserr);
  }
  rendezvous_path = *path;
  log::debug("listening on port " + std::to_string(opts.port)
             + ", control on 127.0.0.1:" + std::to_string(*published)
             + ", control file " + rendezvous_path);
  ready.ok();

  // Wait for `kill` (control actor) or a signal.
  while (!killed) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig > 0 && !killed) {
      log::notice("signal " + std::to_string(sig) + ": shutting down");
      caf::scoped_actor self{sys};
      self->request(lst, std::chrono::seconds(3), stop_atom::value)
        .receive([](uint64_t) {}, [](caf::error&) {});
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (registry.size() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      remove_files();
      break;
    }
  }
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
