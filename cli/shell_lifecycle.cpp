// The shell's drain and upgrade, and the drain state JSON and metrics
// show: requests only a daemon with the lifecycle interface answers
// (actors/protocol.hpp); to an older one the session says so instead.
#include "cli/shell.hpp"

#include <climits>
#include <unistd.h>

#include <caf/all.hpp>

#include "cli/format.hpp"
#include "cli/options.hpp"

namespace balance::cli {

namespace {

constexpr auto request_timeout = std::chrono::seconds(10);
/// The daemon bounds an upgrade itself (10 s for the new process, then
/// ending one that failed): this only guards against a daemon that hangs.
constexpr auto upgrade_timeout = std::chrono::seconds(60);

/// A path as the daemon needs it: absolute (it runs elsewhere).
std::string absolute(const std::string& path) {
  if (path.empty() || path.front() == '/')
    return path;
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof(cwd)))
    return path;
  return std::string(cwd) + "/" + path;
}

} // namespace

bool control_session::unsupported(const char* what) {
  if (lifecycle_)
    return false;
  complain(std::string("the running daemon does not support '") + what + "'");
  soft_failure_ = ex_unavailable;
  return true;
}

std::optional<lifecycle_status> control_session::fetch_lifecycle() {
  if (!lifecycle_)
    return std::nullopt;
  std::optional<lifecycle_status> result;
  self_->request(ctl_, request_timeout, lifecycle_atom::value, target_.secret)
    .receive(
      [&](uint32_t phase, uint64_t seconds_left, int32_t successor) {
        lifecycle_status st;
        if (!from_integer(phase, st.phase))
          st.phase = lifecycle_phase::draining; // a newer daemon's phase
        st.drain_seconds_left = seconds_left;
        st.successor_pid = successor;
        result = st;
      },
      [&](caf::error& err) { fail(err); });
  return result;
}

std::optional<int> control_session::drain() {
  if (unsupported("drain"))
    return std::nullopt;
  std::optional<int32_t> code;
  self_->request(ctl_, request_timeout, drain_atom::value, target_.secret)
    .receive([&](int32_t c) { code = c; }, [&](caf::error& err) { fail(err); });
  if (!code)
    return failure_;
  lifecycle_reply outcome = lifecycle_reply::failed;
  from_integer(*code, outcome);
  auto life = fetch_lifecycle();
  auto snap = life ? fetch() : std::nullopt;
  if (!life || !snap)
    return failure_;
  say(format_drain(outcome, *life, snap->live_connections));
  if (outcome != lifecycle_reply::ok && outcome != lifecycle_reply::already)
    soft_failure_ = ex_unavailable;
  return std::nullopt;
}

std::optional<int> control_session::upgrade(const std::string& path) {
  if (unsupported("upgrade"))
    return std::nullopt;
  std::optional<int32_t> code;
  int32_t pid = 0;
  std::string message;
  self_
    ->request(ctl_, upgrade_timeout, upgrade_atom::value, target_.secret,
              absolute(path))
    .receive(
      [&](int32_t c, int32_t p, std::string& m) {
        code = c;
        pid = p;
        message = std::move(m);
      },
      [&](caf::error& err) { fail(err); });
  if (!code)
    return failure_;
  lifecycle_reply outcome = lifecycle_reply::failed;
  from_integer(*code, outcome);
  if (outcome == lifecycle_reply::ok) {
    say(format_upgrade(outcome, pid));
    return std::nullopt;
  }
  soft_failure_ = ex_unavailable;
  if (outcome == lifecycle_reply::failed) {
    while (!message.empty() && message.back() == '\n')
      message.pop_back();
    complain("upgrade failed: " + message);
    say("upgrade failed, the running process keeps serving.\n");
  } else {
    say(format_upgrade(outcome, pid));
  }
  return std::nullopt;
}

} // namespace balance::cli
