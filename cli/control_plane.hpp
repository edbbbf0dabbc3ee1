// The daemon's control plane: the control actor (and the mutual-TLS front
// actor), the gate every control connection passes before BASP sees a
// byte of it, the rendezvous file, and a watchdog that keeps all of them
// in place for as long as the instance runs.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/control.hpp"
#include "cli/options.hpp"
#include "net/control_gate.hpp"

namespace balance::cli {

/// `--control-listen` as an endpoint: nullopt when not given; "" in
/// `error` unless it is malformed, unresolvable, or not loopback without
/// TLS files or --insecure-control. Checked before daemonising.
std::optional<endpoint> remote_control_endpoint(const options& opts,
                                                std::string& error);

/// Control doors an upgrade handed over (listening; -1 = none).
struct inherited_doors {
  int local = -1;
  int tcp = -1;
};

class control_plane {
public:
  /// `config.on_killed` is wrapped: the rendezvous file goes first.
  control_plane(caf::actor_system& sys, control_config config);
  ~control_plane();

  /// Opens the local socket beside `rendezvous_path`, and the remote door
  /// when `opts.control_listen` is set (TLS files validated by main), or
  /// takes over the `inherited` ones; then writes the rendezvous file
  /// (over the old process's, in an upgrade). "" or the reason it failed.
  std::string open(const options& opts, const std::string& rendezvous_path,
                   inherited_doors inherited = {});

  /// Duplicates of the listening doors, for an upgrade to pass on.
  inherited_doors duplicate_doors();

  /// After an upgrade that failed: the control file is ours again (a new
  /// process may have written its pid there before it failed).
  void reclaim_file();

  /// After an upgrade: the new process owns the rendezvous file and the
  /// doors. Stops accepting control connections (those in stay), and
  /// neither restores nor removes the file or the socket from now on.
  void hand_over();

  /// Called about once a second: restores a control actor that died (any
  /// reason, including an exit it could not trap), and a rendezvous file
  /// or socket that was removed. Returns false only when control cannot
  /// be restored (the instance then shuts down rather than run on
  /// uncontrollable).
  bool watch();

  /// Removes the rendezvous file and closes every door.
  void close();

  /// The control actor now in place (a restored one after a restart); any
  /// thread. In-process askers (the metrics endpoint) still give the secret.
  control_actor control_handle() const;

private:
  void spawn_actors();   ///< under restore_mutex_
  void restore_actors(); ///< a new control actor if the last one died
  bool hand_off(int fd, net::control_door door);
  bool write_file(std::string& error);

  caf::actor_system& sys_;
  control_config config_;
  bool tls_ = false;
  std::unique_ptr<net::control_gate> gate_;
  std::string rendezvous_path_;
  std::mutex restore_mutex_; ///< one restorer at a time (gate or watchdog)
  /// Guards the actor handles (the gate thread reads them).
  mutable std::mutex mutex_;
  control_actor control_;
  control_actor tls_front_;
  std::set<std::string> interface_;
  std::shared_ptr<std::atomic<bool>> control_down_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> handed_over_{false};
};

} // namespace balance::cli
