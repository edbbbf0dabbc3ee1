// The control shell: one session with a connected instance (the current
// group, and how each of 3.54's commands becomes requests and text) and the
// interactive loop around it (-i). cli/client.cpp finds and connects the
// instance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "actors/protocol.hpp"
#include "cli/commands.hpp"
#include "core/lifecycle.hpp"

namespace balance::cli {

/// sysexits' EX_NOPERM: the instance refused the secret or the file.
constexpr int ex_noperm = 77;

/// Where an instance's control is, and the secret it takes.
struct target {
  std::string label;  ///< host:port, printed before each reply of a fleet
  std::string socket; ///< local instance: its control socket
  std::string host;   ///< remote: --control host:port
  uint16_t port = 0;
  std::string secret;
  int pid = 0; ///< known for local instances
};

/// Prints to stdout at once (a script reads each reply as it comes).
void say(const std::string& text);
/// "balance: TEXT" on stderr.
void complain(const std::string& text);

/// One connected control session: the shell's state (the current group)
/// and how each command becomes requests and text.
class control_session {
public:
  /// `lifecycle`: the daemon answers drain, upgrade and lifecycle (one
  /// built before them does not: the session then says so).
  control_session(caf::scoped_actor& self, control_actor ctl, target t,
                  bool lifecycle = true)
    : self_(self), ctl_(std::move(ctl)), target_(std::move(t)),
      lifecycle_(lifecycle) {}

  /// Runs one command line; returns an exit code when the session ends.
  std::optional<int> execute(const std::string& line);

  int64_t group() const { return group_; }

  /// Fetches the snapshot; nullopt after printing why not.
  std::optional<snapshot> fetch();

  std::optional<int> failure() const { return failure_; }
  /// Why the last request failed (also when quiet).
  const std::string& last_error() const { return last_error_; }
  /// A command that failed without ending the session (an upgrade that
  /// did not happen): `-c` exits with it.
  std::optional<int> soft_failure() const { return soft_failure_; }

  /// The daemon's drain state; nullopt from a daemon without it (or after
  /// printing why the request failed).
  std::optional<lifecycle_status> fetch_lifecycle();

  /// Fetches the health rows. Empty, with nothing printed, from a daemon
  /// older than health checks (`supported` false); empty after printing
  /// why on any other failure.
  std::optional<std::vector<health_row>> fetch_health(bool& supported);

  /// Sends a command and returns its outcome, printing nothing (`top`):
  /// the error instead when the request failed.
  std::variant<reply, caf::error> request(const control_command& req);

  /// Whether printing a failure is left to the caller (`top`, whose
  /// screen stderr would garble).
  void set_quiet(bool quiet) { quiet_ = quiet; }

private:
  /// `show json`, `metrics`, `health`: the snapshot with its health (and
  /// the drain state, `life`, null from a daemon without it).
  std::optional<int> show_with_health(const command& cmd,
                                      const snapshot& snap,
                                      const lifecycle_status* life);
  std::optional<int> change(const command& cmd, verb what);
  std::optional<int> kill();
  std::optional<int> drain();
  std::optional<int> upgrade(const std::string& path);
  /// Says that the daemon lacks `what`; false if it has it.
  bool unsupported(const char* what);
  void fail(const caf::error& err);

  caf::scoped_actor& self_;
  control_actor ctl_;
  target target_;
  int64_t group_ = 0;
  std::optional<int> failure_;
  bool quiet_ = false;
  std::string last_error_;
  bool lifecycle_ = true;
  std::optional<int> soft_failure_;
};

/// -i: the banner, then a prompt per command until quit, kill or EOF
/// (editline on a terminal); returns the exit code.
int run_interactive(control_session& session);

} // namespace balance::cli
