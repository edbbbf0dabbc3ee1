// What -d prints at start, as 3.54 does: the groups and channels the
// daemon was given (pure, so it is unit-tested on its own).
#pragma once

#include <string>
#include <vector>

#include "cli/options.hpp"

namespace balance::cli {

/// One line per group (number, RR or Hash, as `show` spells it) followed by
/// one per channel (number, resolved address:port, maxc, and the host as
/// given when that was a name). Needs resolve_channels() first.
std::vector<std::string> describe_groups(const options& opts);

} // namespace balance::cli
