// The compiled-in limits and the version: one place, reported by `version`.
#pragma once

#include <cstddef>

namespace balance {

/// Our release, printed by `version`, the shell banner and `--version`.
constexpr const char* version_string = "4.0";

/// Channel groups per instance (3.54: 16).
constexpr std::size_t max_groups = 64;

/// Channels per group (3.54: 64 arguments in all, whatever the man page says).
constexpr std::size_t max_channels = 1024;

} // namespace balance
