#include "cli/successor.hpp"

#include <climits>
#include <unistd.h>

namespace balance::cli {

namespace {

constexpr const char* deleted_suffix = " (deleted)";

} // namespace

launch_info current_launch(int argc, char** argv) {
  launch_info launch;
  for (int i = 0; i < argc; ++i)
    launch.argv.emplace_back(argv[i]);
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof(buf)))
    launch.cwd = buf;
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0)
    launch.exe.assign(buf, static_cast<std::size_t>(n));
  return launch;
}

std::string upgrade_binary(const std::string& requested,
                           const launch_info& launch, std::string& error) {
  if (!requested.empty()) {
    if (requested.front() != '/') {
      error = "the new binary must be given as an absolute path ("
              + requested + ")";
      return {};
    }
    return requested;
  }
  char buf[PATH_MAX];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string now = n > 0 ? std::string(buf, static_cast<std::size_t>(n))
                          : launch.exe;
  // Replaced on disk (a package upgrade renames the new file over it): the
  // path this process was started from holds the new binary now.
  auto suffix = std::string(deleted_suffix);
  if (now.size() > suffix.size()
      && now.compare(now.size() - suffix.size(), suffix.size(), suffix) == 0)
    now.resize(now.size() - suffix.size());
  if (now.empty()) {
    error = "cannot tell which binary is running (/proc/self/exe)";
    return {};
  }
  return now;
}

} // namespace balance::cli
