#include "cli/proxy_options.hpp"

namespace balance::cli {

namespace {

parse_error usage_error(std::string message) {
  return parse_error{ex_usage, std::move(message), true};
}

// The last ':' splits, so `[::1]:9100` and a bare `::1:9100` both work.
bool split_listen_address(const std::string& text, std::string& host,
                          uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto p = parse_port(text.substr(colon + 1));
  if (!p || host.empty() || host.find_first_of("[] ") != std::string::npos)
    return false;
  port = *p;
  return true;
}

} // namespace

std::optional<parse_error> parse_send_proxy(const std::string& arg,
                                            options& opts) {
  if (arg == "v1")
    opts.send_proxy = proxy_version::v1;
  else if (arg == "v2")
    opts.send_proxy = proxy_version::v2;
  else
    return usage_error("invalid --send-proxy '" + arg + "' (v1 or v2)");
  return std::nullopt;
}

std::optional<parse_error> parse_accept_proxy(const std::string& arg,
                                              options& opts) {
  std::string bad;
  auto ranges = parse_cidr_list(arg, bad);
  if (!ranges)
    return usage_error("invalid --accept-proxy range '" + bad + "' in '" + arg
                       + "' (CIDR[,CIDR...], e.g. 10.0.0.0/8,::1)");
  opts.accept_proxy = std::move(*ranges);
  return std::nullopt;
}

std::optional<parse_error> parse_metrics_listen(const std::string& arg,
                                                options& opts) {
  if (!split_listen_address(arg, opts.metrics_host, opts.metrics_port))
    return usage_error("invalid --metrics-listen '" + arg
                       + "' (addr:port, e.g. 127.0.0.1:9100)");
  opts.metrics_listen = arg;
  return std::nullopt;
}

} // namespace balance::cli
