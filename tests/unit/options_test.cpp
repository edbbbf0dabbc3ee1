// Over 300 lines: one case per option and per error of the command line.
// The 3.54-compatible command line: every option, every error, and the
// channel syntax, against cli/options.hpp.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cli/options.hpp"
#include "core/limits.hpp"

using namespace balance;
using namespace balance::cli;
using Catch::Matchers::Contains;

namespace {

// getopt permutes argv, so the strings must be writable and live as long as
// the call; argv[0] is added here.
parse_result parse(std::vector<std::string> args) {
  args.insert(args.begin(), "balance");
  std::vector<std::vector<char>> storage;
  std::vector<char*> argv;
  for (auto& a : args) {
    storage.emplace_back(a.begin(), a.end());
    storage.back().push_back('\0');
  }
  for (auto& s : storage)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  return parse_command_line(static_cast<int>(args.size()), argv.data());
}

options parse_ok(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  if (auto* err = std::get_if<parse_error>(&r))
    FAIL("unexpected parse error " << err->code << ": " << err->message);
  return std::get<options>(r);
}

parse_error parse_err(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  if (std::holds_alternative<options>(r))
    FAIL("expected a parse error");
  return std::get<parse_error>(r);
}

channel_spec channel_ok(const std::string& text, uint16_t default_port = 8888) {
  auto r = parse_channel(text, default_port);
  if (auto* err = std::get_if<parse_error>(&r))
    FAIL("unexpected channel error for '" << text << "': " << err->message);
  return std::get<channel_spec>(r);
}

parse_error channel_err(const std::string& text, uint16_t default_port = 8888) {
  auto r = parse_channel(text, default_port);
  if (std::holds_alternative<channel_spec>(r))
    FAIL("expected a channel error for '" << text << "'");
  return std::get<parse_error>(r);
}

} // namespace

// -- modes ---------------------------------------------------------------------

TEST_CASE("no arguments at all are a usage error, as in 3.54", "[options]") {
  auto err = parse_err({});
  CHECK(err.code == ex_usage);
  CHECK(err.show_usage);
}

TEST_CASE("option --demo starts the built-in demo", "[options]") {
  auto opts = parse_ok({"--demo"});
  CHECK(opts.mode == run_mode::demo);
}

TEST_CASE("a port and one channel give a daemon with 3.54's defaults",
          "[options]") {
  auto opts = parse_ok({"8888", "backend"});
  CHECK(opts.mode == run_mode::daemon);
  CHECK(opts.port == 8888);
  CHECK(opts.port_text == "8888");
  CHECK(opts.connect_timeout == 5);
  CHECK(opts.idle_timeout == 0);
  CHECK_FALSE(opts.autodisable);
  CHECK_FALSE(opts.debug);
  CHECK_FALSE(opts.foreground);
  CHECK_FALSE(opts.packet_dump);
  CHECK_FALSE(opts.hash_failover);
  CHECK_FALSE(opts.force_ipv6);
  CHECK(opts.bind_host.empty());
  CHECK(opts.out_bind_host.empty());
  CHECK(opts.command.empty());
  CHECK(opts.control_endpoints.empty());
  CHECK(opts.io_threads == 0);
  CHECK(opts.caf_threads == 0);
  REQUIRE(opts.groups.size() == 1);
  CHECK(opts.groups[0].type == group_type::round_robin);
  REQUIRE(opts.groups[0].channels.size() == 1);
  auto& ch = opts.groups[0].channels[0];
  CHECK(ch.host == "backend");
  CHECK(ch.port == 8888);
  CHECK(ch.maxc == 0);
  CHECK(ch.text == "backend");
}

TEST_CASE("option --help and --version select their modes", "[options]") {
  CHECK(parse_ok({"--help"}).mode == run_mode::help);
  CHECK(parse_ok({"--version"}).mode == run_mode::version);
  // They win even when the rest would be incomplete.
  CHECK(parse_ok({"-f", "--help"}).mode == run_mode::help);
}

// -- single-letter flags ----------------------------------------------------------

TEST_CASE("each 3.54 flag sets its own option", "[options]") {
  CHECK(parse_ok({"-a", "80", "h"}).autodisable);
  CHECK(parse_ok({"-d", "80", "h"}).debug);
  CHECK(parse_ok({"-f", "80", "h"}).foreground);
  CHECK(parse_ok({"-p", "80", "h"}).packet_dump);
  CHECK(parse_ok({"-H", "80", "h"}).hash_failover);
  CHECK(parse_ok({"-6", "80", "h"}).force_ipv6);
}

TEST_CASE("option -M is accepted and changes nothing", "[options]") {
  auto opts = parse_ok({"-M", "80", "h"});
  CHECK(opts.mode == run_mode::daemon);
  CHECK_FALSE(opts.autodisable);
  CHECK_FALSE(opts.foreground);
  CHECK(opts.port == 80);
}

TEST_CASE("flags may be combined as with getopt, like -fp", "[options]") {
  auto fp = parse_ok({"-fp", "imap", "mailserver"});
  CHECK(fp.foreground);
  CHECK(fp.packet_dump);
  CHECK_FALSE(fp.debug);
  CHECK(fp.port == 143);

  auto all = parse_ok({"-adfpHM6", "80", "h"});
  CHECK(all.autodisable);
  CHECK(all.debug);
  CHECK(all.foreground);
  CHECK(all.packet_dump);
  CHECK(all.hash_failover);
  CHECK(all.force_ipv6);
}

TEST_CASE("option -b and -B take the listen and outgoing bind addresses",
          "[options]") {
  auto opts = parse_ok({"-b", "127.0.0.1", "-B", "10.0.0.5", "80", "h"});
  CHECK(opts.bind_host == "127.0.0.1");
  CHECK(opts.out_bind_host == "10.0.0.5");

  auto v6 = parse_ok({"-b", "2001:DB8::1", "80", "10.1.1.1", "10.1.1.2"});
  CHECK(v6.bind_host == "2001:DB8::1");
  CHECK(v6.groups[0].channels.size() == 2);
}

TEST_CASE("option -t sets the connect timeout, attached or separate",
          "[options]") {
  CHECK(parse_ok({"-t", "10", "80", "h"}).connect_timeout == 10);
  CHECK(parse_ok({"-t3", "80", "h"}).connect_timeout == 3);
  CHECK(parse_ok({"-t", "1", "80", "h"}).connect_timeout == 1);
}

TEST_CASE("option -t rejects anything but a positive whole number of seconds",
          "[options]") {
  for (std::string bad : {"abc", "0", "-1", "", "5s", "1.5", " 5"}) {
    CAPTURE(bad);
    auto err = parse_err({"-t", bad, "80", "h"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("-t " + bad));
  }
}

TEST_CASE("option -T sets the idle timeout and 0 means never", "[options]") {
  CHECK(parse_ok({"-T", "30", "80", "h"}).idle_timeout == 30);
  CHECK(parse_ok({"-T", "0", "80", "h"}).idle_timeout == 0);
  CHECK(parse_ok({"-T0", "80", "h"}).idle_timeout == 0);
}

TEST_CASE("option -T rejects what is not a whole number of seconds",
          "[options]") {
  for (std::string bad : {"abc", "-1", "", "10x"}) {
    CAPTURE(bad);
    auto err = parse_err({"-T", bad, "80", "h"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("-T " + bad));
  }
}

TEST_CASE("an option missing its argument is a usage error naming the option",
          "[options]") {
  for (std::string opt : {"-t", "-T", "-b", "-B", "-c"}) {
    CAPTURE(opt);
    auto err = parse_err({"80", "h", opt});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("'" + opt + "'"));
    CHECK_THAT(err.message, Contains("argument"));
  }
}

TEST_CASE("a long option missing its argument is a usage error naming it",
          "[options]") {
  for (std::string opt :
       {"--control", "--control-listen", "--secret-file", "--tls-cert",
        "--tls-key", "--tls-ca", "--tls-passphrase-file", "--io-threads",
        "--actor-threads"}) {
    CAPTURE(opt);
    auto err = parse_err({"-c", "show", opt});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(opt));
  }
}

TEST_CASE("an unknown option is a usage error naming it", "[options]") {
  auto err = parse_err({"-x", "80", "h"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("'-x'"));

  auto in_group = parse_err({"-fz", "80", "h"});
  CHECK(in_group.code == ex_usage);
  CHECK_THAT(in_group.message, Contains("'-z'"));

  auto long_err = parse_err({"--bogus", "80", "h"});
  CHECK(long_err.code == ex_usage);
  CHECK_THAT(long_err.message, Contains("--bogus"));

  // -F is in the 3.54 man page but was never an option (quirk 25).
  auto capital_f = parse_err({"-F", "80", "h"});
  CHECK(capital_f.code == ex_usage);
  CHECK_THAT(capital_f.message, Contains("'-F'"));
}

TEST_CASE("an ambiguous long option abbreviation is a usage error naming it",
          "[options]") {
  auto err = parse_err({"--tls", "x", "80", "h"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("--tls"));
}

TEST_CASE("a long flag given a value is a usage error naming it", "[options]") {
  for (std::string opt : {"--insecure-control", "--help", "--version"}) {
    CAPTURE(opt);
    auto err = parse_err({opt + "=yes", "80", "h"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(opt));
  }
}

TEST_CASE("unique abbreviations of long options are accepted", "[options]") {
  CHECK(parse_ok({"--he"}).mode == run_mode::help);
  CHECK(parse_ok({"--vers"}).mode == run_mode::version);
  CHECK(parse_ok({"--io", "3", "80", "h"}).io_threads == 3);
}

TEST_CASE("the parser can run more than once in one process", "[options]") {
  // getopt keeps global state; a second parse must not inherit it.
  auto first = parse_ok({"-f", "-t", "7", "80", "h"});
  auto second = parse_ok({"-p", "81", "g"});
  CHECK(first.connect_timeout == 7);
  CHECK(second.connect_timeout == 5);
  CHECK_FALSE(second.foreground);
  CHECK(second.packet_dump);
  CHECK(second.port == 81);
}

// -- long options --------------------------------------------------------------------

TEST_CASE("option --control may be repeated and makes -c work without a port",
          "[options]") {
  auto opts = parse_ok(
    {"-c", "show", "--control", "10.0.0.1:9000", "--control", "[::1]:9001"});
  CHECK(opts.mode == run_mode::command);
  CHECK(opts.command == "show");
  REQUIRE(opts.control_endpoints.size() == 2);
  CHECK(opts.control_endpoints[0] == "10.0.0.1:9000");
  CHECK(opts.control_endpoints[1] == "[::1]:9001");
  CHECK(opts.port_text.empty());

  auto eq = parse_ok({"-i", "--control=h:1"});
  CHECK(eq.mode == run_mode::interactive);
  REQUIRE(eq.control_endpoints.size() == 1);
  CHECK(eq.control_endpoints[0] == "h:1");
}

TEST_CASE("option --control without -c or -i is a usage error", "[options]") {
  auto err = parse_err({"--control", "h:1", "80", "backend"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("--control"));
}

TEST_CASE(
  "option --control with a port argument is a usage error naming the argument",
  "[options]") {
  auto err = parse_err({"-c", "show", "--control", "h:1", "8888"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("8888"));
}

TEST_CASE("the control and TLS long options store their values", "[options]") {
  auto opts = parse_ok(
    {"--control-listen", "0.0.0.0:7000", "--insecure-control", "--secret-file",
     "/etc/balance/secret", "--tls-cert", "c.pem", "--tls-key", "k.pem",
     "--tls-ca", "ca.pem", "--tls-passphrase-file", "pw.txt", "80", "h"});
  CHECK(opts.mode == run_mode::daemon);
  CHECK(opts.control_listen == "0.0.0.0:7000");
  CHECK(opts.insecure_control);
  CHECK(opts.secret_file == "/etc/balance/secret");
  CHECK(opts.tls.cert == "c.pem");
  CHECK(opts.tls.key == "k.pem");
  CHECK(opts.tls.ca == "ca.pem");
  CHECK(opts.tls.passphrase_file == "pw.txt");
  CHECK(opts.tls.any());
  CHECK_FALSE(parse_ok({"80", "h"}).tls.any());
  CHECK_FALSE(parse_ok({"80", "h"}).insecure_control);
}

TEST_CASE("option --io-threads and --actor-threads take 1 to 64", "[options]") {
  auto opts = parse_ok(
    {"--io-threads", "4", "--actor-threads", "2", "80", "h"});
  CHECK(opts.io_threads == 4);
  CHECK(opts.caf_threads == 2);
  CHECK(parse_ok({"--io-threads=1", "80", "h"}).io_threads == 1);
  CHECK(parse_ok({"--actor-threads", "64", "80", "h"}).caf_threads == 64);

  for (std::string opt : {"--io-threads", "--actor-threads"}) {
    for (std::string bad : {"0", "65", "abc", "-1", ""}) {
      CAPTURE(opt, bad);
      auto err = parse_err({opt, bad, "80", "h"});
      CHECK(err.code == ex_usage);
      CHECK_THAT(err.message, Contains("'" + bad + "'"));
    }
  }
}

// -- PROXY protocol and HTTP metrics (issue 15) --------------------------------

TEST_CASE("option --send-proxy takes v1 or v2 and is off by default",
          "[options][proxy]") {
  CHECK(parse_ok({"80", "h"}).send_proxy == proxy_version::none);
  CHECK(parse_ok({"--send-proxy", "v1", "80", "h"}).send_proxy
        == proxy_version::v1);
  CHECK(parse_ok({"--send-proxy=v2", "80", "h"}).send_proxy
        == proxy_version::v2);
}

TEST_CASE("option --send-proxy rejects any other version naming it",
          "[options][proxy]") {
  for (std::string bad : {"v3", "V1", "1", "v1,v2", "", "none"}) {
    CAPTURE(bad);
    auto err = parse_err({"--send-proxy", bad, "80", "h"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("--send-proxy '" + bad + "'"));
  }
  CHECK_THAT(parse_err({"80", "h", "--send-proxy"}).message,
             Contains("--send-proxy"));
}

TEST_CASE("option --accept-proxy takes a list of CIDR ranges",
          "[options][proxy]") {
  CHECK(parse_ok({"80", "h"}).accept_proxy.empty());
  auto opts =
    parse_ok({"--accept-proxy", "10.0.0.0/8,::1,192.0.2.7", "80", "h"});
  REQUIRE(opts.accept_proxy.size() == 3);
  CHECK(opts.accept_proxy[0].to_string() == "10.0.0.0/8");
  CHECK(opts.accept_proxy[1].to_string() == "::1/128");
  CHECK(opts.accept_proxy[2].to_string() == "192.0.2.7/32");
}

TEST_CASE("option --accept-proxy rejects a bad range naming it",
          "[options][proxy]") {
  for (std::string bad : {"10.0.0.0/33", "::/129", "nonsense", "10.0.0.0/"}) {
    CAPTURE(bad);
    auto err = parse_err({"--accept-proxy", "127.0.0.1," + bad, "80", "h"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("'" + bad + "'"));
    CHECK_THAT(err.message, Contains("--accept-proxy"));
  }
  CHECK(parse_err({"--accept-proxy", "", "80", "h"}).code == ex_usage);
  CHECK(parse_err({"--accept-proxy", "127.0.0.1,", "80", "h"}).code
        == ex_usage);
}

TEST_CASE("option --metrics-listen takes addr:port", "[options][metrics]") {
  CHECK(parse_ok({"80", "h"}).metrics_listen.empty());
  auto opts = parse_ok({"--metrics-listen", "127.0.0.1:9100", "80", "h"});
  CHECK(opts.metrics_listen == "127.0.0.1:9100");
  CHECK(opts.metrics_host == "127.0.0.1");
  CHECK(opts.metrics_port == 9100);
  auto v6 = parse_ok({"--metrics-listen", "[::1]:9100", "80", "h"});
  CHECK(v6.metrics_host == "::1");
  CHECK(v6.metrics_port == 9100);
  auto named = parse_ok({"--metrics-listen", "localhost:http", "80", "h"});
  CHECK(named.metrics_host == "localhost");
  CHECK(named.metrics_port == 80);
}

TEST_CASE("option --metrics-listen rejects what is not addr:port naming it",
          "[options][metrics]") {
  for (std::string bad : {"nonsense", "127.0.0.1", ":9100", "127.0.0.1:",
                          "127.0.0.1:0", "127.0.0.1:70000", "[::1]", "[]:9100",
                          "127.0.0.1:91x"}) {
    CAPTURE(bad);
    auto err = parse_err({"--metrics-listen", bad, "80", "h"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("--metrics-listen '" + bad + "'"));
  }
}

// -- -i and -c -----------------------------------------------------------------------

TEST_CASE("option -i takes exactly the instance's port", "[options]") {
  auto opts = parse_ok({"-i", "8888"});
  CHECK(opts.mode == run_mode::interactive);
  CHECK(opts.port == 8888);
  CHECK(opts.groups.empty());

  auto with_b = parse_ok({"-b", "127.0.0.1", "-i", "-d", "-M", "8888"});
  CHECK(with_b.mode == run_mode::interactive);
  CHECK(with_b.bind_host == "127.0.0.1");
  CHECK(with_b.debug);
}

TEST_CASE("option -c takes the command text and the instance's port",
          "[options]") {
  auto opts = parse_ok({"-c", "show", "8888"});
  CHECK(opts.mode == run_mode::command);
  CHECK(opts.command == "show");
  CHECK(opts.port == 8888);

  auto several = parse_ok({"-c", "group 1; disable 0", "smtp"});
  CHECK(several.command == "group 1; disable 0");
  CHECK(several.port == 25);
}

TEST_CASE("option -i or -c without a port is a usage error", "[options]") {
  auto i = parse_err({"-i"});
  CHECK(i.code == ex_usage);
  auto c = parse_err({"-c", "show"});
  CHECK(c.code == ex_usage);
  CHECK_THAT(c.message, Contains("port"));
}

TEST_CASE(
  "option -i or -c with more than the port is a usage error naming the extra",
  "[options]") {
  auto i = parse_err({"-i", "8888", "backend"});
  CHECK(i.code == ex_usage);
  CHECK_THAT(i.message, Contains("backend"));
  auto c = parse_err({"-c", "show", "8888", "9999"});
  CHECK(c.code == ex_usage);
  CHECK_THAT(c.message, Contains("9999"));
}

TEST_CASE("option -i and -c together are a usage error", "[options]") {
  auto err = parse_err({"-i", "-c", "show", "8888"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("-i"));
  CHECK_THAT(err.message, Contains("-c"));
}

TEST_CASE("option -i or -c with an invalid port is a usage error naming it",
          "[options]") {
  for (std::string bad : {"0", "65536", "80abc", "nosuchservice"}) {
    CAPTURE(bad);
    auto err = parse_err({"-c", "show", bad});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(bad));
  }
}

// -- the listening port -------------------------------------------------------------

TEST_CASE("a missing listening port is a usage error", "[options]") {
  auto err = parse_err({"-f"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("port"));
}

TEST_CASE("a port without any channel is a usage error", "[options]") {
  auto err = parse_err({"8888"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("channel"));
}

TEST_CASE("an invalid listening port is a usage error naming it", "[options]") {
  for (std::string bad :
       {"0", "65536", "80abc", "nosuchservice", "-", "99999999"}) {
    CAPTURE(bad);
    auto err = parse_err({bad, "backend"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(bad));
  }
}

TEST_CASE("the listening port may be named as in /etc/services", "[options]") {
  auto opts = parse_ok({"smtp", "host1.test.net", "host2.test.net"});
  CHECK(opts.port == 25);
  CHECK(opts.port_text == "smtp");
  // Channels without a port take the listening port.
  REQUIRE(opts.groups[0].channels.size() == 2);
  CHECK(opts.groups[0].channels[0].port == 25);
  CHECK(opts.groups[0].channels[1].port == 25);
}

TEST_CASE("the highest and lowest ports are valid", "[options]") {
  CHECK(parse_ok({"65535", "h"}).port == 65535);
  CHECK(parse_ok({"1", "h"}).port == 1);
}

// -- channels -------------------------------------------------------------------------

TEST_CASE("a channel is host, host:port or host:port:maxc",
          "[options][channel]") {
  auto bare = channel_ok("backend", 8888);
  CHECK(bare.host == "backend");
  CHECK(bare.port == 8888);
  CHECK(bare.maxc == 0);
  CHECK(bare.text == "backend");

  auto port = channel_ok("10.1.1.1:8000");
  CHECK(port.host == "10.1.1.1");
  CHECK(port.port == 8000);
  CHECK(port.maxc == 0);

  auto full = channel_ok("host1:8080:16");
  CHECK(full.host == "host1");
  CHECK(full.port == 8080);
  CHECK(full.maxc == 16);
  CHECK(full.text == "host1:8080:16");

  auto zero = channel_ok("host1:8080:0");
  CHECK(zero.maxc == 0);
}

TEST_CASE("host::maxc keeps the default port and sets maxc",
          "[options][channel]") {
  auto ch = channel_ok("mailserver1::16", 143);
  CHECK(ch.host == "mailserver1");
  CHECK(ch.port == 143);
  CHECK(ch.maxc == 16);

  auto one = channel_ok("target.munich.net::1", 23);
  CHECK(one.host == "target.munich.net");
  CHECK(one.port == 23);
  CHECK(one.maxc == 1);

  auto v4 = channel_ok("10.1.1.1::4", 80);
  CHECK(v4.host == "10.1.1.1");
  CHECK(v4.port == 80);
  CHECK(v4.maxc == 4);
}

TEST_CASE("a channel's port may be a service name", "[options][channel]") {
  auto ch = channel_ok("mail:smtp:3");
  CHECK(ch.port == 25);
  CHECK(ch.maxc == 3);
}

TEST_CASE("an IPv6 channel is written [addr]:port:maxc", "[options][channel]") {
  auto full = channel_ok("[2001:db8::1]:80:5");
  CHECK(full.host == "2001:db8::1");
  CHECK(full.port == 80);
  CHECK(full.maxc == 5);

  auto port = channel_ok("[::1]:8080");
  CHECK(port.host == "::1");
  CHECK(port.port == 8080);
  CHECK(port.maxc == 0);

  auto bare = channel_ok("[::1]", 443);
  CHECK(bare.host == "::1");
  CHECK(bare.port == 443);

  auto maxc_only = channel_ok("[::1]::7", 443);
  CHECK(maxc_only.host == "::1");
  CHECK(maxc_only.port == 443);
  CHECK(maxc_only.maxc == 7);
}

TEST_CASE("a bare IPv6 literal is a channel on the default port",
          "[options][channel]") {
  for (std::string lit : {"::1", "2001:db8::1", "fe80::1:2:3:4",
                          "2001:db8:0:0:0:0:0:1", "::ffff:10.1.1.3"}) {
    CAPTURE(lit);
    auto ch = channel_ok(lit, 8888);
    CHECK(ch.host == lit);
    CHECK(ch.port == 8888);
    CHECK(ch.maxc == 0);
  }
}

TEST_CASE("an invalid channel port is a usage error naming port and channel",
          "[options][channel]") {
  for (std::string bad : {"0", "65536", "80abc", "nosuchservice", "-5"}) {
    CAPTURE(bad);
    auto text = "backend:" + bad;
    auto err = channel_err(text);
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(bad));
    CHECK_THAT(err.message, Contains(text));
  }
  auto v6 = channel_err("[::1]:0:5");
  CHECK(v6.code == ex_usage);
  CHECK_THAT(v6.message, Contains("[::1]:0:5"));
}

TEST_CASE("an invalid maxc is a usage error naming it", "[options][channel]") {
  for (std::string bad : {"abc", "-1", "1x", "99999999999"}) {
    CAPTURE(bad);
    auto text = "backend:80:" + bad;
    auto err = channel_err(text);
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(bad));
    CHECK_THAT(err.message, Contains(text));
  }
  auto v6 = channel_err("[::1]:80:abc");
  CHECK(v6.code == ex_usage);
  CHECK_THAT(v6.message, Contains("abc"));
}

TEST_CASE("a channel with too many ':' fields is a usage error naming it",
          "[options][channel]") {
  for (std::string bad : {"backend:80:5:6", "[::1]:80:5:6", "10.0.0.1:80:5:"}) {
    CAPTURE(bad);
    auto err = channel_err(bad);
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(bad));
  }
}

TEST_CASE("a channel with an empty host is a usage error naming it",
          "[options][channel]") {
  for (std::string bad : {":80", ":80:5", "[]:80", "::5x", ""}) {
    CAPTURE(bad);
    auto err = channel_err(bad);
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("'" + bad + "'"));
  }
}

TEST_CASE("a malformed bracketed IPv6 channel is a usage error naming it",
          "[options][channel]") {
  for (std::string bad : {"[::1", "[::1]80", "[::1]x:80"}) {
    CAPTURE(bad);
    auto err = channel_err(bad);
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains(bad));
  }
}

TEST_CASE("a channel error on the command line stops the parse",
          "[options][channel]") {
  auto err = parse_err({"80", "good", "bad:99999"});
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("bad:99999"));

  auto maxc = parse_err({"80", "good", "!", "other:80:abc"});
  CHECK(maxc.code == ex_usage);
  CHECK_THAT(maxc.message, Contains("other:80:abc"));
}

// -- groups ------------------------------------------------------------------------------

TEST_CASE("! separates round robin groups", "[options][groups]") {
  auto opts = parse_ok({"pop3", "host1", "host2", "host3", "!", "failover1"});
  REQUIRE(opts.groups.size() == 2);
  CHECK(opts.groups[0].type == group_type::round_robin);
  CHECK(opts.groups[1].type == group_type::round_robin);
  REQUIRE(opts.groups[0].channels.size() == 3);
  CHECK(opts.groups[0].channels[0].host == "host1");
  CHECK(opts.groups[0].channels[2].host == "host3");
  REQUIRE(opts.groups[1].channels.size() == 1);
  CHECK(opts.groups[1].channels[0].host == "failover1");
  CHECK(opts.groups[1].channels[0].port == 110);
}

TEST_CASE("% marks the group before it as a hash group", "[options][groups]") {
  auto opts = parse_ok({"80", "a", "b", "%", "c", "!", "d", "%", "e"});
  REQUIRE(opts.groups.size() == 4);
  CHECK(opts.groups[0].type == group_type::hash);
  CHECK(opts.groups[1].type == group_type::round_robin);
  CHECK(opts.groups[2].type == group_type::hash);
  CHECK(opts.groups[3].type == group_type::round_robin);
  CHECK(opts.groups[0].channels.size() == 2);
  CHECK(opts.groups[1].channels.size() == 1);
  CHECK(opts.groups[2].channels.size() == 1);
  CHECK(opts.groups[3].channels.size() == 1);
}

TEST_CASE("the man page's five-group self test parses", "[options][groups]") {
  auto opts = parse_ok({"8888", "localhost::12", "!", "localhost::4", "!",
                        "localhost::2", "localhost::2", "!", "localhost:25"});
  REQUIRE(opts.groups.size() == 4);
  CHECK(opts.groups[0].channels[0].maxc == 12);
  CHECK(opts.groups[0].channels[0].port == 8888);
  CHECK(opts.groups[1].channels[0].maxc == 4);
  CHECK(opts.groups[2].channels.size() == 2);
  CHECK(opts.groups[2].channels[1].maxc == 2);
  CHECK(opts.groups[3].channels[0].port == 25);
  CHECK(opts.groups[3].channels[0].maxc == 0);
}

TEST_CASE("a leading group separator is an empty group 0 (exit 69)",
          "[options][groups]") {
  for (std::string sep : {"!", "%"}) {
    CAPTURE(sep);
    auto err = parse_err({"80", sep, "backend"});
    CHECK(err.code == ex_unavailable);
    CHECK_THAT(err.message, Contains("group 0"));
  }
}

TEST_CASE("a doubled group separator is an empty group naming its number",
          "[options][groups]") {
  for (auto pair : std::vector<std::pair<std::string, std::string>>{
         {"!", "!"}, {"!", "%"}, {"%", "!"}, {"%", "%"}}) {
    CAPTURE(pair.first, pair.second);
    auto err = parse_err({"80", "a", pair.first, pair.second, "b"});
    CHECK(err.code == ex_unavailable);
    CHECK_THAT(err.message, Contains("group 1"));
  }
  auto later = parse_err({"80", "a", "!", "b", "!", "!", "c"});
  CHECK(later.code == ex_unavailable);
  CHECK_THAT(later.message, Contains("group 2"));
}

TEST_CASE("a trailing group separator closes the last group and opens none",
          "[options][groups]") {
  // 3.54's way to declare a single hash group: `balance 8080 a b %`.
  auto hash = parse_ok({"8080", "a:80", "b:80", "%"});
  REQUIRE(hash.groups.size() == 1);
  CHECK(hash.groups[0].type == group_type::hash);
  CHECK(hash.groups[0].channels.size() == 2);

  auto rr = parse_ok({"8080", "a:80", "b:80", "!"});
  REQUIRE(rr.groups.size() == 1);
  CHECK(rr.groups[0].type == group_type::round_robin);

  auto two = parse_ok({"8080", "a", "b", "!", "c", "d", "%"});
  REQUIRE(two.groups.size() == 2);
  CHECK(two.groups[0].type == group_type::round_robin);
  CHECK(two.groups[1].type == group_type::hash);
  CHECK(two.groups[1].channels.size() == 2);
}

TEST_CASE("two trailing group separators are an empty group naming its number",
          "[options][groups]") {
  for (auto pair : std::vector<std::pair<std::string, std::string>>{
         {"!", "!"}, {"%", "%"}, {"!", "%"}}) {
    CAPTURE(pair.first, pair.second);
    auto err = parse_err({"80", "a", "b", pair.first, pair.second});
    CHECK(err.code == ex_unavailable);
    CHECK_THAT(err.message, Contains("group 1"));
  }
}

TEST_CASE("as many groups as MAXGROUPS are accepted and one more is 69",
          "[options][groups]") {
  std::vector<std::string> args{"80", "h"};
  for (std::size_t g = 1; g < max_groups; ++g) {
    args.push_back(g % 2 ? "!" : "%");
    args.push_back("h" + std::to_string(g));
  }
  auto opts = parse_ok(args);
  REQUIRE(opts.groups.size() == max_groups);
  CHECK(opts.groups.back().channels[0].host
        == "h" + std::to_string(max_groups - 1));

  // A trailing separator after the last group opens no group.
  auto closed = args;
  closed.push_back("%");
  auto last_hash = parse_ok(closed);
  REQUIRE(last_hash.groups.size() == max_groups);
  CHECK(last_hash.groups.back().type == group_type::hash);

  args.push_back("!");
  args.push_back("one-too-many");
  auto err = parse_err(args);
  CHECK(err.code == ex_unavailable);
  CHECK_THAT(err.message, Contains("too many groups"));
}

TEST_CASE("as many channels as MAXCHANNELS in a group are accepted and one "
          "more is 64",
          "[options][groups]") {
  std::vector<std::string> args{"80"};
  for (std::size_t c = 0; c < max_channels; ++c)
    args.push_back("10.0." + std::to_string(c / 250) + "."
                   + std::to_string(c % 250 + 1));
  auto opts = parse_ok(args);
  REQUIRE(opts.groups.size() == 1);
  CHECK(opts.groups[0].channels.size() == max_channels);

  // The limit is per group: a second full group is fine too.
  auto two_groups = args;
  two_groups.push_back("!");
  two_groups.insert(two_groups.end(), args.begin() + 1, args.end());
  CHECK(parse_ok(two_groups).groups.size() == 2);

  args.push_back("one-too-many");
  auto err = parse_err(args);
  CHECK(err.code == ex_usage);
  CHECK_THAT(err.message, Contains("MAXCHANNELS"));
  CHECK_THAT(err.message, Contains("group 0"));
}

// -- resolution ------------------------------------------------------------------------------

TEST_CASE("resolve_channels fills each channel's target with its port",
          "[options][resolve]") {
  auto opts = parse_ok(
    {"8888", "127.0.0.1:9000", "localhost", "!", "[::1]:7:2"});
  auto r = resolve_channels(opts);
  REQUIRE(std::holds_alternative<std::monostate>(r));
  auto& g0 = opts.groups[0].channels;
  CHECK(g0[0].target.to_string() == "127.0.0.1:9000");
  CHECK(g0[1].target.to_string() == "127.0.0.1:8888"); // IPv4 preferred
  auto& g1 = opts.groups[1].channels;
  CHECK(g1[0].target.to_string() == "[::1]:7");
  CHECK(g1[0].maxc == 2);
}

TEST_CASE("an unknown host is found before starting and exits 65",
          "[options][resolve]") {
  auto opts = parse_ok({"8888", "127.0.0.1", "!", "nosuchhost.invalid:80:3"});
  auto r = resolve_channels(opts);
  REQUIRE(std::holds_alternative<parse_error>(r));
  auto& err = std::get<parse_error>(r);
  CHECK(err.code == ex_dataerr);
  CHECK(err.code == 65);
  CHECK_THAT(err.message, Contains("nosuchhost.invalid"));
}

// -- usage ------------------------------------------------------------------------------------

TEST_CASE("the usage text lists -6 and -f, not the man page's F", "[options]") {
  auto text = usage_text();
  CHECK_THAT(text, Contains("-6"));
  CHECK_THAT(text, Contains("-f "));
  CHECK_THAT(text, Contains("-H"));
  CHECK_THAT(text, Contains("-c cmd"));
  CHECK_THAT(text, Contains("--control"));
}

TEST_CASE("the sysexits codes are the ones 3.54 uses", "[options]") {
  CHECK(ex_usage == 64);
  CHECK(ex_dataerr == 65);
  CHECK(ex_unavailable == 69);
  CHECK(ex_oserr == 71);
}

// -- health checks -------------------------------------------------------------

TEST_CASE("without check options nothing is checked, as 3.54", "[options]") {
  auto o = parse_ok({"8080", "a:80"});
  CHECK(o.checks.interval.count() == 0);
  CHECK_FALSE(o.checks.observe);
  CHECK_FALSE(o.checks.shutdown_on_down);
  CHECK(o.checks.rise == 2);
  CHECK(o.checks.fall == 3);
}

TEST_CASE("check options take fractional seconds, counts and escaped strings",
          "[options]") {
  auto o = parse_ok({"--check-interval", "0.5", "--check-timeout", "0.25",
                     "--rise", "4", "--fall", "1", "--check-send",
                     "PING\\r\\n", "--check-expect", "+PONG", "--observe",
                     "--on-down", "shutdown", "8080", "a:80"});
  CHECK(o.checks.interval == std::chrono::milliseconds(500));
  CHECK(o.checks.timeout == std::chrono::milliseconds(250));
  CHECK(o.checks.rise == 4);
  CHECK(o.checks.fall == 1);
  CHECK(o.checks.send == "PING\r\n");
  CHECK(o.checks.expect == "+PONG");
  CHECK(o.checks.observe);
  CHECK(o.checks.shutdown_on_down);
}

TEST_CASE("the check timeout defaults to the smaller of interval and -t",
          "[options]") {
  auto o = parse_ok({"--check-interval", "10", "-t", "3", "8080", "a:80"});
  CHECK(o.checks.timeout == std::chrono::seconds(3));
  o = parse_ok({"--check-interval", "0.2", "8080", "a:80"});
  CHECK(o.checks.timeout == std::chrono::milliseconds(200));
}

TEST_CASE("observe and on-down shutdown work without active checks",
          "[options]") {
  auto o = parse_ok({"--observe", "--on-down", "shutdown", "8080", "a:80"});
  CHECK(o.checks.observe);
  CHECK(o.checks.interval.count() == 0);
}

TEST_CASE("bad check options are usage errors naming the option",
          "[options]") {
  auto names = [](std::vector<std::string> args, const std::string& option) {
    auto err = parse_err(std::move(args));
    CHECK(err.code == ex_usage);
    CHECK(err.message.find(option) != std::string::npos);
  };
  names({"--check-interval", "-1", "8080", "a"}, "--check-interval");
  names({"--check-interval", "0.0001", "8080", "a"}, "--check-interval");
  names({"--check-interval", "1.", "8080", "a"}, "--check-interval");
  names({"--check-interval", "fast", "8080", "a"}, "--check-interval");
  names({"--check-interval", "0.001", "8080", "a"}, "--check-interval");
  names({"--check-interval", "1", "--check-timeout", "0", "8080", "a"},
        "--check-timeout");
  names({"--rise", "0", "8080", "a"}, "--rise");
  names({"--fall", "1001", "8080", "a"}, "--fall");
  names({"--check-interval", "1", "--check-send", "a\\q", "8080", "a"},
        "--check-send");
  names({"--check-interval", "1", "--check-expect", "", "8080", "a"},
        "--check-expect");
  names({"--on-down", "restart", "8080", "a"}, "--on-down");
  names({"--check-send", "x", "8080", "a"}, "--check-send");
  names({"--check-timeout", "1", "8080", "a"}, "--check-timeout");
  names({"--on-down", "shutdown", "8080", "a"}, "--on-down");
}

TEST_CASE("drain timeout defaults to 30 s and takes 0 for no limit",
          "[options]") {
  CHECK(parse_ok({"8080", "a:80"}).drain_timeout == 30);
  CHECK(parse_ok({"--drain-timeout", "0", "8080", "a:80"}).drain_timeout == 0);
  CHECK(parse_ok({"--drain-timeout", "5", "8080", "a:80"}).drain_timeout == 5);
  for (const char* bad : {"-1", "1.5", "soon", "", "99999999999"}) {
    CAPTURE(bad);
    auto err = parse_err({"--drain-timeout", bad, "8080", "a:80"});
    CHECK(err.code == ex_usage);
    CHECK_THAT(err.message, Contains("--drain-timeout"));
  }
}

TEST_CASE("pid finds the instance for -c and -i instead of a port",
          "[options]") {
  auto o = parse_ok({"-c", "upgrade", "--pid", "4321"});
  CHECK(o.mode == run_mode::command);
  CHECK(o.control_pid == 4321);
  CHECK(parse_ok({"-i", "--pid", "7"}).mode == run_mode::interactive);
  CHECK_THAT(parse_err({"-c", "show", "--pid", "7", "8080"}).message,
             Contains("with --pid no port argument"));
  CHECK_THAT(parse_err({"--pid", "7", "8080", "a:80"}).message,
             Contains("--pid needs -c or -i"));
  CHECK_THAT(parse_err({"-c", "show", "--pid", "0"}).message,
             Contains("--pid"));
  CHECK_THAT(
    parse_err({"-c", "show", "--pid", "7", "--control", "h:1"}).message,
    Contains("exclude each other"));
}
