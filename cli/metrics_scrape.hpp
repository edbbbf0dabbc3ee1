// Where --metrics-listen's text comes from: the control actor's snapshot
// (the one `-c metrics` prints), rendered by format_metrics.
#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "core/lifecycle.hpp"
#include "net/metrics_server.hpp"

namespace balance::cli {

class control_plane;

/// A source for net::metrics_server. Each call spawns a helper actor that
/// requests `show` from the control actor in place (with the instance
/// `secret`, as every request carries it) and hands the rendered text, or
/// nullopt on an error or after a timeout, to the reply. Never blocks its
/// caller: the metrics thread only enqueues a spawn. `sys` and `control`
/// outlive the server.
/// `life` (optional) adds the drain state, as `-c metrics` does.
net::metrics_source
metrics_source_for(caf::actor_system& sys, const control_plane& control,
                   std::string secret,
                   std::shared_ptr<const lifecycle> life = nullptr);

} // namespace balance::cli
