// The health checks' part of an instance's start: the rules the groups
// apply, the active checks on the io threads, and what the schedulers do
// on a change (cli/instance.cpp puts them together).
#pragma once

#include <memory>

#include "actors/directory.hpp"
#include "actors/scheduler.hpp"
#include "cli/options.hpp"
#include "core/health.hpp"
#include "net/connection_registry.hpp"
#include "net/health_checks.hpp"
#include "net/io_pool.hpp"

namespace balance::cli {

/// The rise/fall rules every group applies.
health_rules health_rules_for(const check_options& checks);

/// The active checks (none without --check-interval), dealt out over the
/// io threads; results go to the groups' schedulers through `dir`.
std::unique_ptr<net::health_checks>
make_health_checks(const options& opts, net::io_pool& pool,
                   const std::shared_ptr<group_directory>& dir);

/// What the schedulers do for health beyond their policy: reset a down
/// channel's connections (--on-down shutdown), check created channels.
scheduler_hooks hooks_for(const options& opts,
                          net::connection_registry& registry,
                          net::health_checks* checks);

} // namespace balance::cli
