// Runs one proxy instance: the actor system, the io threads, a scheduler
// per group, the listener, the control actor on the middleman and the
// rendezvous file; returns when `kill` or a signal stops it.
#pragma once

#include "cli/daemon.hpp"
#include "cli/options.hpp"

namespace balance::cli {

/// `listen_fd` is bound and listening already (before daemonising).
int run_instance(const options& opts, int listen_fd, readiness& ready);

} // namespace balance::cli
