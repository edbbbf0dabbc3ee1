// The rendezvous file: how `balance -c/-i PORT` finds its daemon. One file
// per instance (listening port + -b string, as 3.54's shm key), mode 0600,
// holding the pid, the control socket's path and the instance secret, in a
// directory only its owner can write. A client trusts a file only when the
// file and its directory belong to it (or to root) and nobody else can
// write them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace balance::cli {

struct rendezvous {
  int pid = 0;
  std::string socket; ///< the control gate's AF_UNIX socket
  std::string secret;
};

/// Where rendezvous files live, in order: $BALANCE_RUNTIME_DIR alone when
/// set; else /run/balance, /tmp/balance-$UID, then ~/.balance (a fallback
/// no other user can create first). $XDG_RUNTIME_DIR is not used: it is
/// removed at logout, and a cron job does not have it.
std::vector<std::string> runtime_dirs();

/// `balance.<port>.<bind>` with bind = the -b string or 0.0.0.0 (3.54).
std::string rendezvous_name(uint16_t port, const std::string& bind);

/// The socket beside a rendezvous file.
std::string socket_path_for(const std::string& rendezvous_path);

/// Creates (or re-creates) the first usable runtime dir; returns the
/// file's full path. A directory someone else owns or can write is passed
/// over (and named in `error` if none is left).
std::optional<std::string> prepare_rendezvous_path(const std::string& name,
                                                   std::string& error);

/// Writes atomically (temp file + rename), mode 0600.
bool write_rendezvous(const std::string& path, const rendezvous& r,
                      std::string& error);

/// Parses the text of a rendezvous file.
std::optional<rendezvous> parse_rendezvous(const std::string& text);

/// Why a file was not trusted, or that it could not be read.
enum class rendezvous_problem {
  none,
  missing,
  unreadable,
  untrusted,
  malformed
};

/// Reads a rendezvous file without following links, and only if it and
/// its directory are trusted (see above); else sets `problem` and `error`.
std::optional<rendezvous> read_rendezvous(const std::string& path,
                                          rendezvous_problem& problem,
                                          std::string& error);

/// Reads only the `secret=` line of a file (--secret-file: a copy of an
/// instance's rendezvous file, or a file with that one line), with the
/// same ownership checks.
std::optional<std::string> read_secret_file(const std::string& path,
                                            std::string& error);

/// The first existing file of that name in runtime_dirs(), or "";
/// directories passed over as untrusted are described in `skipped`.
std::string find_rendezvous(const std::string& name, std::string& skipped);

/// The control file (trusted, well-formed) whose pid is `pid`, or "";
/// for `-c --pid $MAINPID` (systemd's ExecReload knows the pid, not the
/// port).
std::string find_rendezvous_by_pid(int pid, std::string& skipped);

/// Whether a process with this pid exists (by /proc, never a signal).
bool process_alive(int pid);

/// 32 random bytes as hex.
std::string make_secret();

} // namespace balance::cli
