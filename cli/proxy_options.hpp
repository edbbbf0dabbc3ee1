// The command-line options of the PROXY protocol and the HTTP metrics
// endpoint (--send-proxy, --accept-proxy, --metrics-listen): each value
// checked, with a message naming it (usage error, 64) when it is bad.
#pragma once

#include <optional>
#include <string>

#include "cli/options.hpp"

namespace balance::cli {

/// `v1` or `v2`.
std::optional<parse_error> parse_send_proxy(const std::string& arg,
                                            options& opts);
/// `CIDR[,CIDR...]` (core/cidr.hpp).
std::optional<parse_error> parse_accept_proxy(const std::string& arg,
                                              options& opts);
/// `addr:port` or `[v6addr]:port`; the address is resolved later, by main.
std::optional<parse_error> parse_metrics_listen(const std::string& arg,
                                                options& opts);

} // namespace balance::cli
