// Over 300 lines: the whole 3.54 command line, as its man page has it.
#include "cli/options.hpp"

#include <getopt.h>

#include <algorithm>

#include "cli/check_options.hpp"
#include "cli/proxy_options.hpp"
#include "core/limits.hpp"

namespace balance::cli {

namespace {

parse_error usage_error(std::string message) {
  return parse_error{ex_usage, std::move(message), true};
}

bool parse_uint(const std::string& text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 10
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(text);
  return out <= max;
}

enum long_option : int {
  opt_control = 1000,
  opt_control_listen,
  opt_insecure_control,
  opt_secret_file,
  opt_tls_cert,
  opt_tls_key,
  opt_tls_ca,
  opt_tls_passphrase_file,
  opt_io_threads,
  opt_actor_threads,
  opt_send_proxy,
  opt_accept_proxy,
  opt_metrics_listen,
  opt_help,
  opt_version,
  opt_demo,
  opt_interval,
  opt_batch,
  opt_read_only,
  opt_drain_timeout,
  opt_pid,
};

const option own_long_options[] = {
  {"control", required_argument, nullptr, opt_control},
  {"control-listen", required_argument, nullptr, opt_control_listen},
  {"insecure-control", no_argument, nullptr, opt_insecure_control},
  {"secret-file", required_argument, nullptr, opt_secret_file},
  {"tls-cert", required_argument, nullptr, opt_tls_cert},
  {"tls-key", required_argument, nullptr, opt_tls_key},
  {"tls-ca", required_argument, nullptr, opt_tls_ca},
  {"tls-passphrase-file", required_argument, nullptr, opt_tls_passphrase_file},
  {"io-threads", required_argument, nullptr, opt_io_threads},
  {"actor-threads", required_argument, nullptr, opt_actor_threads},
  {"send-proxy", required_argument, nullptr, opt_send_proxy},
  {"accept-proxy", required_argument, nullptr, opt_accept_proxy},
  {"metrics-listen", required_argument, nullptr, opt_metrics_listen},
  {"help", no_argument, nullptr, opt_help},
  {"version", no_argument, nullptr, opt_version},
  {"demo", no_argument, nullptr, opt_demo},
  {"interval", required_argument, nullptr, opt_interval},
  {"batch", required_argument, nullptr, opt_batch},
  {"read-only", no_argument, nullptr, opt_read_only},
  {"drain-timeout", required_argument, nullptr, opt_drain_timeout},
  {"pid", required_argument, nullptr, opt_pid},
};

// getopt_long's table: ours, then the health checks' (check_options.cpp).
const std::vector<option>& long_option_table() {
  static const std::vector<option> table = [] {
    std::vector<option> all(std::begin(own_long_options),
                            std::end(own_long_options));
    all.insert(all.end(), std::begin(check_long_options),
               std::end(check_long_options));
    all.push_back({nullptr, 0, nullptr, 0});
    return all;
  }();
  return table;
}

// How the option getopt_long just complained about was spelled: a long
// option's optopt is its `val`, not a character.
std::string option_name(int opt, char* const* argv) {
  for (auto* o = long_option_table().data(); o->name != nullptr; ++o)
    if (o->val == opt)
      return std::string("--") + o->name;
  if (opt > 0 && opt < 128)
    return std::string("-") + static_cast<char>(opt);
  std::string word = argv[optind - 1];
  return word.substr(0, word.find('='));
}

// A separator closes the group before it (`%`: hash, `!`: round robin)
// and the next channel opens a new one; so a trailing separator, 3.54's
// way to declare a single hash group (`balance 8080 a b %`), opens none.
std::variant<std::monostate, parse_error>
parse_groups(options& opts, const std::vector<std::string>& args) {
  opts.groups.emplace_back();
  bool closed = false; // the last group was closed by a separator
  for (auto& arg : args) {
    if (arg == "!" || arg == "%") {
      // An empty group: two separators in a row, or one before any channel.
      auto empty = closed ? opts.groups.size() : opts.groups.size() - 1;
      if (closed || opts.groups.back().channels.empty())
        return parse_error{ex_unavailable, "no channels in group "
                                             + std::to_string(empty)
                                             + " (before '" + arg + "')"};
      opts.groups.back().type = arg == "%" ? group_type::hash
                                           : group_type::round_robin;
      closed = true;
      continue;
    }
    if (closed) {
      if (opts.groups.size() >= max_groups)
        return parse_error{ex_unavailable, "too many groups (MAXGROUPS="
                                             + std::to_string(max_groups)
                                             + ")"};
      opts.groups.emplace_back();
      closed = false;
    }
    auto ch = parse_channel(arg, opts.port);
    if (auto* err = std::get_if<parse_error>(&ch))
      return *err;
    auto& group = opts.groups.back();
    if (group.channels.size() >= max_channels)
      return parse_error{ex_usage, "MAXCHANNELS exceeded in group "
                                     + std::to_string(opts.groups.size() - 1)
                                     + " (MAXCHANNELS="
                                     + std::to_string(max_channels) + ")"};
    group.channels.push_back(std::get<channel_spec>(std::move(ch)));
  }
  if (opts.groups.back().channels.empty())
    return usage_error("at least one channel is required");
  return std::monostate{};
}

// -- the steps of parse_command_line ----------------------------------------

/// -i and -c, which make this run a client of a running instance.
struct client_flags {
  bool interactive = false;
  bool command = false;
};

/// Applies one option getopt_long returned; a parse_error if its value
/// is bad.
std::optional<parse_error> apply_option(int c, const std::string& arg,
                                        options& opts, client_flags& client) {
  uint64_t n = 0;
  switch (c) {
    case '6': opts.force_ipv6 = true; break;
    case 'a': opts.autodisable = true; break;
    case 'b': opts.bind_host = arg; break;
    case 'B': opts.out_bind_host = arg; break;
    case 'c':
      client.command = true;
      opts.command = arg;
      break;
    case 'd': opts.debug = true; break;
    case 'f': opts.foreground = true; break;
    case 'p': opts.packet_dump = true; break;
    case 'i': client.interactive = true; break;
    case 'H': opts.hash_failover = true; break;
    case 'M': break; // 3.54: mmap instead of shm; our IPC is CAF's
    case 't':
      if (!parse_uint(arg, 86400, n) || n < 1)
        return usage_error("invalid connect timeout '-t " + arg
                           + "' (whole seconds, 1..86400)");
      opts.connect_timeout = static_cast<int>(n);
      break;
    case 'T':
      if (!parse_uint(arg, 86400 * 365, n))
        return usage_error("invalid idle timeout '-T " + arg
                           + "' (whole seconds, 0 = never)");
      opts.idle_timeout = static_cast<int>(n);
      break;
    case opt_control: opts.control_endpoints.push_back(arg); break;
    case opt_control_listen: opts.control_listen = arg; break;
    case opt_insecure_control: opts.insecure_control = true; break;
    case opt_secret_file: opts.secret_file = arg; break;
    case opt_tls_cert: opts.tls.cert = arg; break;
    case opt_tls_key: opts.tls.key = arg; break;
    case opt_tls_ca: opts.tls.ca = arg; break;
    case opt_tls_passphrase_file: opts.tls.passphrase_file = arg; break;
    case opt_io_threads:
    case opt_actor_threads:
      if (!parse_uint(arg, 64, n) || n < 1)
        return usage_error("invalid thread count '" + arg + "' (1..64)");
      (c == opt_io_threads ? opts.io_threads
                           : opts.caf_threads) = static_cast<int>(n);
      break;
    case opt_send_proxy: return parse_send_proxy(arg, opts);
    case opt_accept_proxy: return parse_accept_proxy(arg, opts);
    case opt_metrics_listen: return parse_metrics_listen(arg, opts);
    case opt_drain_timeout:
      if (!parse_uint(arg, 86400 * 365, n))
        return usage_error("invalid drain timeout '--drain-timeout " + arg
                           + "' (whole seconds, 0 = no limit)");
      opts.drain_timeout = static_cast<int>(n);
      break;
    case opt_pid:
      if (!parse_uint(arg, 4194304, n) || n < 1)
        return usage_error("invalid process id '--pid " + arg + "'");
      opts.control_pid = static_cast<int>(n);
      break;
    case opt_help: opts.mode = run_mode::help; break;
    case opt_version: opts.mode = run_mode::version; break;
    case opt_demo: opts.mode = run_mode::demo; break;
    case opt_interval: {
      auto v = parse_seconds(arg, 3600);
      if (!v || v->count() < 100)
        return usage_error("invalid refresh interval '--interval " + arg
                           + "' (seconds, fractions allowed: 0.1..3600)");
      opts.top.interval = *v;
      opts.top.given = true;
      break;
    }
    case opt_batch:
      if (!parse_uint(arg, 1000000, n) || n < 1)
        return usage_error("invalid snapshot count '--batch " + arg
                           + "' (1..1000000)");
      opts.top.batch = static_cast<int>(n);
      opts.top.given = true;
      break;
    case opt_read_only:
      opts.top.read_only = true;
      opts.top.given = true;
      break;
    default: return apply_check_option(c, arg, opts);
  }
  return std::nullopt;
}

/// The options (getopt semantics as 3.54: flags may be combined, `-fp`);
/// stops at --help, --version and --demo. Leaves optind at the first
/// positional argument.
std::optional<parse_error> parse_options(int argc, char* const* argv,
                                         options& opts, client_flags& client) {
  optind = 0; // full re-initialisation: the parser may run more than once
  opterr = 0;
  int c;
  while (
    (c = getopt_long(argc, argv, ":c:b:B:t:T:adfpiHM6",
                     long_option_table().data(), nullptr))
    != -1) {
    if (c == ':')
      return usage_error("option '" + option_name(optopt, argv)
                         + "' needs an argument");
    if (c == '?') {
      auto bad = option_name(optopt, argv);
      if (optopt >= opt_control)
        return usage_error("option '" + bad + "' takes no value");
      return usage_error("unknown option '" + bad + "'");
    }
    if (auto err = apply_option(c, optarg ? optarg : "", opts, client))
      return err;
    if (opts.mode != run_mode::daemon)
      return std::nullopt;
  }
  return std::nullopt;
}

/// The listening port, the one positional argument both modes take.
std::optional<parse_error> parse_listen_port(options& opts,
                                             const std::string& text) {
  opts.port_text = text;
  auto port = parse_port(opts.port_text);
  if (!port)
    return usage_error("invalid port [" + opts.port_text + "]");
  opts.port = *port;
  return std::nullopt;
}

/// -c/-i: the instance's listening port, or --control endpoints instead.
parse_result client_arguments(options opts,
                              const std::vector<std::string>& positional) {
  if (!opts.control_endpoints.empty() && opts.control_pid > 0)
    return usage_error("--control and --pid exclude each other");
  if (!opts.control_endpoints.empty() || opts.control_pid > 0) {
    if (!positional.empty())
      return usage_error(std::string("with ")
                         + (opts.control_pid > 0 ? "--pid" : "--control")
                         + " no port argument is taken, got '"
                         + positional.front() + "'");
    return opts;
  }
  if (positional.size() != 1)
    return usage_error(positional.empty()
                         ? "-i, -c and top need the listening port of the instance"
                         : "unexpected argument '" + positional[1] + "'");
  if (auto err = parse_listen_port(opts, positional[0]))
    return *err;
  return opts;
}

/// The daemon: the listening port, then the channels and separators.
parse_result daemon_arguments(options opts,
                              std::vector<std::string> positional) {
  if (!opts.control_endpoints.empty())
    return usage_error("--control needs -c or -i");
  if (opts.control_pid > 0)
    return usage_error("--pid needs -c or -i");
  if (positional.empty())
    return usage_error("the listening port is missing");
  if (auto err = parse_listen_port(opts, positional[0]))
    return *err;
  positional.erase(positional.begin());
  if (auto r = parse_groups(opts, positional);
      std::holds_alternative<parse_error>(r))
    return std::get<parse_error>(r);
  if (auto err = finish_check_options(opts))
    return *err;
  return opts;
}

} // namespace

std::variant<channel_spec, parse_error> parse_channel(const std::string& text,
                                                      uint16_t default_port) {
  channel_spec ch;
  ch.text = text;
  std::string rest;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos)
      return usage_error("invalid channel '" + text + "': missing ']'");
    ch.host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    if (!rest.empty() && rest[0] != ':')
      return usage_error("invalid channel '" + text + "': junk after ']'");
  } else if (std::count(text.begin(), text.end(), ':') > 2
             || (text.find("::") != std::string::npos
                 && parse_numeric_address(text))) {
    // A bare IPv6 literal: no port or maxc can follow without brackets.
    if (!parse_numeric_address(text))
      return usage_error("invalid channel '" + text
                         + "': write IPv6 addresses as [addr]:port:maxc");
    ch.host = text;
  } else {
    auto colon = text.find(':');
    ch.host = text.substr(0, colon);
    if (colon != std::string::npos)
      rest = text.substr(colon);
  }
  if (ch.host.empty())
    return usage_error("invalid channel '" + text + "': empty host");
  // rest is "" or ":port" or ":port:maxc"
  std::string port_text, maxc_text;
  if (!rest.empty()) {
    auto second = rest.find(':', 1);
    port_text = rest.substr(1, second == std::string::npos ? std::string::npos
                                                           : second - 1);
    if (second != std::string::npos)
      maxc_text = rest.substr(second + 1);
    if (maxc_text.find(':') != std::string::npos)
      return usage_error("invalid channel '" + text
                         + "': too many ':' fields (host:port:maxc)");
  }
  ch.port = default_port;
  if (!port_text.empty()) {
    auto port = parse_port(port_text);
    if (!port)
      return usage_error("invalid port '" + port_text + "' in channel '" + text
                         + "'");
    ch.port = *port;
  }
  if (!maxc_text.empty()) {
    uint64_t maxc = 0;
    if (!parse_uint(maxc_text, 1000000000, maxc))
      return usage_error("invalid maxc '" + maxc_text + "' in channel '" + text
                         + "' (a number, 0 = unlimited)");
    ch.maxc = static_cast<uint32_t>(maxc);
  }
  return ch;
}

parse_result parse_command_line(int argc, char* const* argv) {
  if (argc <= 1)
    return usage_error("the listening port is missing"); // as 3.54
  options opts;
  client_flags client;
  if (auto err = parse_options(argc, argv, opts, client))
    return *err;
  if (opts.mode != run_mode::daemon)
    return opts; // --help, --version, --demo: nothing else counts
  std::vector<std::string> positional(argv + optind, argv + argc);
  if (client.interactive && client.command)
    return usage_error("-i and -c exclude each other");
  if (!positional.empty() && positional[0] == "top"
      && !(client.interactive || client.command)) {
    // No port is called "top": 3.54 would have refused it as one.
    opts.mode = run_mode::top;
    positional.erase(positional.begin());
    return client_arguments(std::move(opts), positional);
  }
  if (opts.top.given)
    return usage_error("--interval, --batch and --read-only are for "
                       "'balance top'");
  if (client.interactive || client.command) {
    opts.mode = client.interactive ? run_mode::interactive : run_mode::command;
    return client_arguments(std::move(opts), positional);
  }
  return daemon_arguments(std::move(opts), positional);
}

std::variant<std::monostate, parse_error> resolve_channels(options& opts) {
  for (auto& group : opts.groups) {
    for (auto& ch : group.channels) {
      std::string error;
      auto ep = resolve_host(ch.host, family::any, error);
      if (!ep)
        return parse_error{ex_dataerr, "unknown host '" + ch.host
                                         + "' in channel '" + ch.text
                                         + "': " + error};
      ch.target = *ep;
      ch.target.port = ch.port;
    }
  }
  return std::monostate{};
}

std::string usage_text() {
  return R"(usage:
  balance [-b addr] [-B addr] [-t sec] [-T sec] [-adfpHM6] \
          port [h1[:p1[:maxc1]] [!%]] [h2[:p2[:maxc2]]] [!%] [ ... ]

  balance [-b addr] -i [-d] [-M] port
  balance [-b addr] -c cmd [-d] [-M] port
  balance -c cmd --control host:port [--control ...] [TLS options]
  balance [-b addr] top port [--interval S] [--batch N] [--read-only]
  balance top --control host:port [--control ...] [TLS options] [...]
  balance -c cmd --pid PID    (the local instance whose master is PID)
  balance --demo          (two echo backends behind 127.0.0.1:8888)

  -6        bind the listening socket to IPv6 (default: IPv4 and IPv6)
  -a        enable channel autodisable option
  -b host   bind to specific address on listen
  -B host   bind to specific address for outgoing connections
  -c cmd    execute specified interactive command(s), ';' separates several
  -d        debugging on (stderr)
  -f        stay in foregound
  -i        interactive control
  -H        failover even if Hash Type is used
  -M        accepted for compatibility (ignored)
  -p        packetdump
  -t sec    specify connect timeout in seconds (default=5)
  -T sec    idle timeout in seconds (default=0=never)
  !         separates channelgroups (declaring previous to be Round Robin)
  %         as !, but declaring previous group to be a Hash Type
            (a trailing ! or % closes the last group: "8080 a b %" is one
            Hash group)

  --control host:port        control the instance at that control endpoint
                             (repeat for a fleet; each reply is labelled)
  --control-listen addr:port also accept control there: mutual TLS with the
                             --tls-* files, else the secret (loopback only
                             unless --insecure-control)
  --tls-cert FILE --tls-key FILE --tls-ca FILE [--tls-passphrase-file FILE]
                             mutual TLS for remote control (both sides)
  --secret-file FILE         the instance's secret for a plain --control
  --io-threads N, --actor-threads N   thread counts (default: one per core)
  --send-proxy v1|v2         send a PROXY protocol header to the channels
                             before the client's first byte
  --accept-proxy CIDR[,...]  clients in these ranges must start with a PROXY
                             header (v1 or v2); its address is the client's
  --metrics-listen addr:port serve GET /metrics (Prometheus text) over HTTP;
                             read-only, no secret: bind it to loopback or a
                             trusted network
  --drain-timeout SEC        how long `drain`, SIGQUIT and `upgrade` let
                             connections finish before resetting them
                             (default 30, 0 = no limit)

  health checks (default: none, as 3.54):
  --check-interval SEC       connect to every channel every SEC seconds
  --check-timeout SEC        a check's time limit (default: interval or -t)
  --rise N, --fall N         passes to come up (2), failures to go down (3)
  --check-send STR, --check-expect STR
                             send STR after connecting, require the answer
                             to start with STR (escapes \r \n \t \\ \xHH)
  --observe                  clients' failed connects count as failed checks
  --on-down keep|shutdown    reset a down channel's connections (shutdown)
  --help, --version

examples:
  balance smtp host1.test.net host2.test.net
  balance 80 host1:8080 host2:8080 ! backup:8080
  balance -c show 80
  balance --send-proxy v2 --metrics-listen 127.0.0.1:9100 80 web1 web2
)";
}

} // namespace balance::cli
