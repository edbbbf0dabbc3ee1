#include "cli/rendezvous.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace balance::cli {

std::vector<std::string> runtime_dirs() {
  std::vector<std::string> dirs;
  if (auto* env = std::getenv("BALANCE_RUNTIME_DIR"); env && *env) {
    dirs.emplace_back(env);
    return dirs;
  }
  dirs.emplace_back("/run/balance");
  if (auto* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
    dirs.push_back(std::string(xdg) + "/balance");
  dirs.push_back("/tmp/balance-" + std::to_string(::getuid()));
  return dirs;
}

std::string rendezvous_name(uint16_t port, const std::string& bind) {
  return "balance." + std::to_string(port) + "."
         + (bind.empty() ? std::string("0.0.0.0") : bind);
}

std::optional<std::string> prepare_rendezvous_path(const std::string& name,
                                                   std::string& error) {
  for (auto& dir : runtime_dirs()) {
    // /run/balance is shared (0755: others see that an instance exists but
    // cannot read its secret); per-user fallbacks are private.
    mode_t mode = dir == "/run/balance" ? 0755 : 0700;
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
      continue;
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      continue;
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)
        || st.st_uid != ::geteuid())
      continue;
    return dir + "/" + name;
  }
  error = "no writable runtime directory (tried /run/balance, "
          "$XDG_RUNTIME_DIR/balance, /tmp/balance-$UID)";
  return std::nullopt;
}

bool write_rendezvous(const std::string& path, const rendezvous& r,
                      std::string& error) {
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream out;
  out << "pid=" << r.pid << "\nhost=" << r.host << "\nport=" << r.port
      << "\nsecret=" << r.secret << "\n";
  auto text = out.str();
  bool ok = ::write(fd, text.data(), text.size())
            == static_cast<ssize_t>(text.size());
  ok = ::fchmod(fd, 0600) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<rendezvous> parse_rendezvous(const std::string& text) {
  rendezvous r;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    auto key = line.substr(0, eq), value = line.substr(eq + 1);
    try {
      if (key == "pid")
        r.pid = std::stoi(value);
      else if (key == "host")
        r.host = value;
      else if (key == "port")
        r.port = static_cast<uint16_t>(std::stoi(value));
      else if (key == "secret")
        r.secret = value;

    } catch (...) {
      return std::nullopt;
    }
  }
  if (r.pid <= 0 || r.host.empty() || r.port == 0 || r.secret.empty())
    return std::nullopt;
  return r;
}

std::optional<rendezvous> read_rendezvous(const std::string& path,
                                          std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto r = parse_rendezvous(buf.str());
  if (!r)
    error = path + " is not a balance control file";
  return r;
}

std::string find_rendezvous(const std::string& name) {
  for (auto& dir : runtime_dirs()) {
    auto path = dir + "/" + name;
    if (::access(path.c_str(), F_OK) == 0)
      return path;
  }
  return {};
}

bool process_alive(int pid) {
  if (pid <= 0)
    return false;
  // A zombie (exited, not yet reaped by its parent) is gone as far as
  // control goes. /proc/<pid>/stat: "pid (comm) state ...", and comm may
  // itself hold spaces or parentheses, so the state follows the last ')'.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat))
    return false;
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size()
         && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
}

std::string make_secret() {
  unsigned char bytes[32];
  std::size_t got = 0;
  while (got < sizeof(bytes)) {
    auto n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0)
      got += static_cast<std::size_t>(n);
    else if (errno != EINTR)
      std::abort(); // no entropy: never run with a guessable secret
  }
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 0xf];
  }
  return out;
}

} // namespace balance::cli
