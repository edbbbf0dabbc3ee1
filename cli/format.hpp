// Turns the daemon's structured replies into text: 3.54's exact show
// table, version lines, MRTG blocks and one-line replies (format.cpp),
// plus JSON, the Prometheus text exposition and the health table
// (format_export.cpp). Pure, unit-tested against 3.54's texts.
#pragma once

#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/lifecycle.hpp"
#include "core/vocabulary.hpp"

namespace balance::cli {

/// snprintf into a string (at most 511 characters).
std::string printf_string(const char* fmt, ...)
  __attribute__((format(printf, 1, 2)));

/// Whether `show` says ENA: enabled by the operator and not autodisabled.
bool is_enabled(const channel_status& ch);

/// A group's type as `show` (and -d) spell it: "RR" or "Hash".
const char* show_name(group_type type);

std::string format_show(const snapshot& snap);
std::string format_version(const snapshot& snap);
/// MRTG four-line blocks; "unknown group" / "unknown channel" as 3.54.
std::string format_mrtg_bytes(const snapshot& snap, int64_t group,
                              int64_t channel);
std::string format_mrtg_conns(const snapshot& snap, int64_t group,
                              int64_t channel);
/// `health`: with the rows the daemon answered (nullptr: a daemon from
/// before health checks, whose JSON and metrics then carry none).
/// `life`: the daemon's drain state (null from a daemon without it):
/// "draining" (and its deadline, its successor) in JSON, a gauge in
/// metrics. `show` never changes: 3.54's parsers read it.
std::string format_json(const snapshot& snap,
                        const std::vector<health_row>* health = nullptr,
                        const lifecycle_status* life = nullptr);
std::string format_metrics(const snapshot& snap,
                           const std::vector<health_row>* health = nullptr,
                           const lifecycle_status* life = nullptr);
/// The `health` table: a row per channel of `snap`.
std::string format_health(const snapshot& snap,
                          const std::vector<health_row>& health);
/// The reply to `drain`: what it did and what is left.
std::string format_drain(lifecycle_reply code, const lifecycle_status& life,
                         uint64_t live);
/// The reply to a successful `upgrade`, or why it did not start.
std::string format_upgrade(lifecycle_reply code, int32_t pid);
std::string format_help();
std::string format_banner(const std::string& version, int pid);
/// The one-line reply to a state-changing command.
std::string format_reply(const command& cmd, int64_t group, reply code);

} // namespace balance::cli
