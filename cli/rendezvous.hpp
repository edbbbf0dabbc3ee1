// The rendezvous file: how `balance -c/-i PORT` finds its daemon. One file
// per instance (listening port + -b string, as 3.54's shm key), mode 0600,
// holding the pid, the control endpoint and the instance secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace balance::cli {

struct rendezvous {
  int pid = 0;
  std::string host; ///< control endpoint
  uint16_t port = 0;
  std::string secret;
};

/// Where rendezvous files live, in order: $BALANCE_RUNTIME_DIR, else
/// /run/balance, $XDG_RUNTIME_DIR/balance, /tmp/balance-$UID.
std::vector<std::string> runtime_dirs();

/// `balance.<port>.<bind>` with bind = the -b string or 0.0.0.0 (3.54).
std::string rendezvous_name(uint16_t port, const std::string& bind);

/// Creates the first usable runtime dir; returns the file's full path.
std::optional<std::string> prepare_rendezvous_path(const std::string& name,
                                                   std::string& error);

/// Writes atomically (temp file + rename), mode 0600.
bool write_rendezvous(const std::string& path, const rendezvous& r,
                      std::string& error);

/// Parses the text of a rendezvous file.
std::optional<rendezvous> parse_rendezvous(const std::string& text);

/// Reads a rendezvous file; sets `error` (e.g. permission denied).
std::optional<rendezvous> read_rendezvous(const std::string& path,
                                          std::string& error);

/// The first existing file of that name in runtime_dirs(), or "".
std::string find_rendezvous(const std::string& name);

/// Whether a process with this pid exists (by /proc, never a signal).
bool process_alive(int pid);

/// 32 random bytes as hex.
std::string make_secret();

} // namespace balance::cli
