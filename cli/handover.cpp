#include "cli/handover.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "cli/rendezvous.hpp"
#include "log/log.hpp"
#include "net/control_preamble.hpp"

namespace balance::cli {

namespace {

/// sysexits' EX_NOPERM: a hand-over that does not come from the process
/// owning the instance.
constexpr int ex_noperm_handover = 77;

bool parse_fd(const std::string& text, int& out) {
  if (text.empty() || text.size() > 5
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto n = std::stoi(text);
  if (n < 3 || n > 65535)
    return false;
  out = n;
  return true;
}

/// The whole state, from offset 0, bounded.
bool read_state(int fd, std::string& text, std::string& error) {
  char buf[65536];
  for (off_t at = 0;;) {
    auto n = ::pread(fd, buf, sizeof(buf), at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = std::string("cannot read the hand-over state: ")
              + std::strerror(errno);
      return false;
    }
    if (n == 0)
      return true;
    text.append(buf, static_cast<std::size_t>(n));
    at += n;
    if (text.size() > max_handover_state_size) {
      error = "the hand-over state is too large";
      return false;
    }
  }
}

} // namespace

std::optional<std::array<int, 3>> parse_handover_env(const std::string& value) {
  std::array<int, 3> fds{};
  std::size_t start = 0;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    auto colon = value.find(':', start);
    bool last = i + 1 == fds.size();
    if (last != (colon == std::string::npos))
      return std::nullopt;
    auto part = value.substr(start, last ? std::string::npos : colon - start);
    if (!parse_fd(part, fds[i]))
      return std::nullopt;
    start = colon + 1;
  }
  if (fds[0] == fds[1] || fds[0] == fds[2] || fds[1] == fds[2])
    return std::nullopt;
  return fds;
}

std::optional<handover> take_handover(std::string& error) {
  const char* env = std::getenv(handover_env);
  if (!env)
    return std::nullopt;
  std::string value = env;
  ::unsetenv(handover_env); // no grandchild takes it
  auto fds = parse_handover_env(value);
  if (!fds) {
    error = std::string(handover_env) + " is malformed";
    return std::nullopt;
  }
  for (int fd : *fds)
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      error = std::string(handover_env) + ": descriptor "
              + std::to_string(fd) + " is not open";
      return std::nullopt;
    }
  handover h;
  h.ready_fd = (*fds)[1];
  h.stderr_fd = (*fds)[2];
  std::string text;
  bool read = read_state((*fds)[0], text, error);
  ::close((*fds)[0]);
  if (!read)
    return std::nullopt;
  auto state = parse_handover_state(text, error);
  if (!state) {
    error = "the hand-over state is broken: " + error;
    return std::nullopt;
  }
  h.state = std::move(*state);
  return h;
}

std::string check_handover_origin(const handover_state& state) {
  if (state.pid != ::getppid())
    return "the hand-over comes from process " + std::to_string(state.pid)
           + ", not from our parent";
  rendezvous_problem problem;
  std::string error;
  auto rv = read_rendezvous(state.rendezvous, problem, error);
  if (!rv)
    return problem == rendezvous_problem::missing ? std::string() : error;
  if (rv->pid != state.pid || !net::secret_matches(rv->secret, state.token))
    return "the control file " + state.rendezvous + " belongs to process "
           + std::to_string(rv->pid) + ", which is not handing over";
  return {};
}

std::optional<std::string> control_file_for(const options& opts,
                                            const handover* handed,
                                            int& code, std::string& error) {
  if (handed) {
    if (auto why = check_handover_origin(handed->state); !why.empty()) {
      code = ex_noperm_handover;
      error = "hand-over refused: " + why;
      return std::nullopt;
    }
    return handed->state.rendezvous;
  }
  auto path = prepare_rendezvous_path(
    rendezvous_name(opts.port, opts.bind_host), error);
  if (!path)
    code = ex_oserr;
  return path;
}

void settle_after_handover(handover& h, bool foreground) {
  if (h.stderr_fd >= 0) {
    ::dup2(h.stderr_fd, STDERR_FILENO);
    ::close(h.stderr_fd);
    h.stderr_fd = -1;
  }
  if (!foreground && ::chdir("/") != 0) {
    // nothing relies on the working directory
  }
  log::notice("took over from process " + std::to_string(h.state.pid));
}

} // namespace balance::cli
