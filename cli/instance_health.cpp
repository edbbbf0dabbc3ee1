#include "cli/instance_health.hpp"

#include "core/proxy_header.hpp"

namespace balance::cli {

health_rules health_rules_for(const check_options& checks) {
  health_rules rules;
  rules.rise = checks.rise;
  rules.fall = checks.fall;
  rules.active = checks.interval.count() > 0;
  rules.observe = checks.observe;
  return rules;
}

std::unique_ptr<net::health_checks>
make_health_checks(const options& opts, net::io_pool& pool,
                   const std::shared_ptr<group_directory>& dir) {
  if (opts.checks.interval.count() == 0)
    return nullptr;
  net::check_settings settings;
  settings.interval = opts.checks.interval;
  settings.timeout = *opts.checks.timeout; // defaulted by the parser
  settings.send = opts.checks.send;
  settings.expect = opts.checks.expect;
  // Behind --send-proxy a destination reads a header before anything
  // else: a check that talks sends PROXY's LOCAL (v2) or UNKNOWN (v1)
  // first. A plain check sends nothing (the application never sees it).
  if (opts.send_proxy != proxy_version::none
      && !(settings.send.empty() && settings.expect.empty())) {
    auto header = encode_proxy_local(opts.send_proxy);
    settings.send.insert(0, reinterpret_cast<const char*>(header.data.data()),
                         header.size);
  }
  settings.out_bind = opts.out_bind;
  settings.rise = opts.checks.rise;
  return std::make_unique<net::health_checks>(pool, dir, *dir,
                                              std::move(settings));
}

scheduler_hooks hooks_for(const options& opts,
                          net::connection_registry& registry,
                          net::health_checks* checks) {
  scheduler_hooks hooks;
  if (opts.checks.shutdown_on_down)
    hooks.reset_channel = [&registry](uint32_t g, uint32_t c) {
      registry.reset_channel(g, c);
    };
  if (checks)
    hooks.channel_created = [checks](uint32_t g, uint32_t c) {
      checks->watch(g, c);
    };
  return hooks;
}

} // namespace balance::cli
