// The command line, 3.54-compatible plus our long options: parsed into a
// plain struct with strict validation (pure apart from /etc/services and
// name lookups, so it is unit-tested on its own).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/cidr.hpp"
#include "core/endpoint.hpp"
#include "core/proxy_header.hpp"
#include "core/vocabulary.hpp"
#include "net/tls_files.hpp"

namespace balance::cli {

/// sysexits codes, as 3.54 uses them.
enum exit_code : int {
  ex_ok = 0,
  ex_usage = 64,
  ex_dataerr = 65,
  ex_nohost = 68,
  ex_unavailable = 69,
  ex_software = 70,
  ex_oserr = 71,
  ex_config = 78,
};

struct channel_spec {
  std::string text; ///< the argument as given, for messages
  std::string host;
  uint16_t port = 0;
  uint32_t maxc = 0;
  endpoint target; ///< filled by resolve_channels()
};

struct group_spec {
  group_type type = group_type::round_robin;
  std::vector<channel_spec> channels;
};

enum class run_mode { daemon, command, interactive, top, demo, help, version };

using tls_files = net::tls_files;

/// The health checks' settings (cli/check_options.cpp).
struct check_options {
  std::chrono::milliseconds interval{0}; ///< --check-interval, 0 = none
  /// --check-timeout; default: the smaller of the interval and -t
  std::optional<std::chrono::milliseconds> timeout;
  uint32_t rise = 2;             ///< --rise
  uint32_t fall = 3;             ///< --fall
  std::string send;              ///< --check-send, escapes resolved
  std::string expect;            ///< --check-expect, escapes resolved
  bool observe = false;          ///< --observe
  bool shutdown_on_down = false; ///< --on-down shutdown
};

struct options {
  run_mode mode = run_mode::daemon;
  // -- 3.54 options
  std::string bind_host;     ///< -b
  std::string out_bind_host; ///< -B
  /// -B resolved and checked (local, of a channel's family) once at start.
  std::optional<endpoint> out_bind;
  int connect_timeout = 5;    ///< -t seconds
  int idle_timeout = 0;       ///< -T seconds, 0 = never
  bool autodisable = false;   ///< -a
  bool debug = false;         ///< -d
  bool foreground = false;    ///< -f
  bool packet_dump = false;   ///< -p
  bool hash_failover = false; ///< -H
  bool force_ipv6 = false;    ///< -6
  std::string command;        ///< -c
  std::string port_text;
  uint16_t port = 0;
  std::vector<group_spec> groups;
  // -- ours
  std::vector<std::string> control_endpoints; ///< --control host:port
  std::string control_listen;                 ///< --control-listen addr:port
  bool insecure_control = false;              ///< --insecure-control
  std::string secret_file;                    ///< --secret-file
  tls_files tls;
  int io_threads = 0;  ///< --io-threads, 0 = one per core
  int caf_threads = 0; ///< --actor-threads, 0 = one per core
  check_options checks;
  struct {
    std::chrono::milliseconds interval{1000}; ///< --interval
    int batch = 0;          ///< --batch N: N plain snapshots, no screen
    bool read_only = false; ///< --read-only: no e/d
    bool given = false;     ///< any of them was given
  } top;
  /// --send-proxy v1|v2: a PROXY header before the first relayed byte.
  proxy_version send_proxy = proxy_version::none;
  /// --accept-proxy CIDR[,CIDR...]: clients that must send a PROXY header.
  std::vector<cidr> accept_proxy;
  /// --metrics-listen addr:port (Prometheus text over HTTP); the host is
  /// resolved by main before daemonising.
  std::string metrics_listen;
  std::string metrics_host;
  uint16_t metrics_port = 0;
  std::optional<endpoint> metrics_endpoint; ///< resolved by main
  int drain_timeout = 30; ///< --drain-timeout seconds, 0 = no limit
  int control_pid = 0;    ///< --pid: -c/-i find the instance by its pid
};

struct parse_error {
  int code = ex_usage;
  std::string message; ///< names the bad argument
  bool show_usage = false;
};

using parse_result = std::variant<options, parse_error>;

/// Parses argv (getopt semantics as 3.54: flags may be combined, `-fp`).
parse_result parse_command_line(int argc, char* const* argv);

/// Parses one `host[:port[:maxc]]` (or `[v6]:port:maxc`) argument.
std::variant<channel_spec, parse_error> parse_channel(const std::string& text,
                                                      uint16_t default_port);

/// Resolves every channel's host; an unknown host is an ex_dataerr error.
std::variant<std::monostate, parse_error> resolve_channels(options& opts);

/// The usage text (3.54's, with -6 added and our long options).
std::string usage_text();

} // namespace balance::cli
