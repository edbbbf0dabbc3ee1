// The control plane's front door: every control connection is accepted,
// authenticated and bounded here, on its own Asio thread, before a single
// byte of it may reach CAF's BASP parser (which trusts its input: see
// docs/architecture.md, "Control plane"). An authenticated peer is relayed
// through a socketpair whose other end is handed to BASP.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/endpoint.hpp"

namespace asio::ssl {
class context;
}

namespace balance::net {

/// How a peer got in; doubles as the BASP "port" its actor is published
/// under, so each door can hand out its own actor.
enum class control_door : uint16_t {
  local = 1, ///< AF_UNIX socket, peer uid checked (SO_PEERCRED) + secret
  token = 2, ///< TCP, the secret in the preamble
  tls = 3,   ///< TCP, mutual TLS (the certificate is the credential)
};

struct control_gate_limits {
  std::size_t max_pending = 16; ///< per door, before authentication
  std::size_t max_active = 64;  ///< per door, authenticated
  std::chrono::milliseconds auth_deadline{2000};
};

/// Receives the BASP end of a socketpair (owning it) for an authenticated
/// peer; false when the hand-off failed (the gate closes the peer).
using control_handoff = std::function<bool(int fd, control_door)>;

class control_gate {
public:
  control_gate(std::string secret, control_handoff handoff,
               control_gate_limits limits = {});
  ~control_gate();

  control_gate(const control_gate&) = delete;
  control_gate& operator=(const control_gate&) = delete;

  /// Binds the AF_UNIX door at `path` (mode 0600); peers must run as this
  /// process's uid or as root.
  bool listen_local(const std::string& path, std::string& error);
  /// Binds a TCP door: `tls` set = mutual TLS, null = the secret preamble.
  /// Returns the bound port.
  std::optional<uint16_t> listen_tcp(const endpoint& where,
                                     std::shared_ptr<asio::ssl::context> tls,
                                     std::string& error);

  /// Takes over a listening AF_UNIX socket already bound at `path` (an
  /// upgrade hands the old process's door to the new one: not one client
  /// of the backlog is lost, and the file stays the same).
  bool adopt_local(int fd, const std::string& path, std::string& error);
  /// Takes over a listening TCP socket (the same, for --control-listen).
  bool adopt_tcp(int fd, std::shared_ptr<asio::ssl::context> tls,
                 std::string& error);

  /// A duplicate (close-on-exec) of each open door's listening socket, the
  /// local door first; for an upgrade to pass on. Thread-safe.
  std::vector<std::pair<control_door, int>> duplicate_doors();

  /// After an upgrade: stops accepting on every door without closing the
  /// connections already in (a shell may still be talking to this
  /// process), and forgets the socket file, which the new process owns
  /// now (neither removed at stop nor restored). Thread-safe.
  void hand_over();

  /// Starts the gate's thread.
  void start();
  /// Closes every door and connection and joins the thread.
  void stop();

  /// Binds the local door again if its socket file was removed or replaced
  /// (e.g. a cleaner of /tmp); true when it is (again) in place.
  bool restore_local();

  /// Authenticated connections open right now, over all doors.
  std::size_t active() const;

  struct impl; ///< in the .cpp (public only for its helper classes there)

private:
  std::unique_ptr<impl> impl_;
};

} // namespace balance::net
