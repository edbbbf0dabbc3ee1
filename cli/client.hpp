// `balance -c CMD PORT` and `balance -i PORT`: find the instance (its
// rendezvous file, or the --control endpoints), connect to its control
// actor through the gate and BASP (with timeouts, never a hang), and hand
// each command to the shell (cli/shell.hpp), which prints 3.54's texts.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/protocol.hpp"
#include "cli/options.hpp"
#include "cli/shell.hpp"

namespace asio::ssl {
class context;
} // namespace asio::ssl

namespace balance::net {
class control_link;
} // namespace balance::net

namespace balance::cli {

/// Runs -c or -i; returns the process exit code.
int run_control(const options& opts);

// -- what `top` shares with -c and -i -----------------------------------------

/// The instances a client talks to: the local one on the port (its
/// rendezvous file), or the --control endpoints. An exit code after
/// printing why not.
std::variant<std::vector<target>, int> find_targets(const options& opts);

/// The TLS identity for --control with --tls-* files (null without them);
/// an exit code after printing why not.
std::variant<std::shared_ptr<asio::ssl::context>, int>
client_tls(const options& opts);

/// A client's actor system: one worker, the middleman, the protocol types.
void configure_client(caf::actor_system_config& cfg);

/// Connects to `t`'s control actor (the gate, then BASP), with timeouts;
/// `refused` when the gate refused the secret or certificate. The
/// interface the daemon announced goes to `interface` (has_lifecycle).
std::optional<control_actor>
connect_target(caf::scoped_actor& self, net::control_link& link,
               const target& t,
               const std::shared_ptr<asio::ssl::context>& tls,
               std::string& error, bool& refused,
               std::set<std::string>* interface = nullptr);

} // namespace balance::cli
