// Over 300 lines: the rendezvous file's life, its trust checks side by side.
#include "cli/rendezvous.hpp"

#include "log/log.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <pwd.h>
#include <sstream>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace balance::cli {

namespace {

constexpr const char* system_dir = "/run/balance";
constexpr std::size_t max_file_size = 4096;

/// Owned by us or root, and nobody else may write it.
std::string trust_problem(const struct stat& st, const std::string& what) {
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return what + " belongs to uid " + std::to_string(st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return what + " is writable by other users";
  return {};
}

/// The directory as a trusted place for our files: "" if it is, else why not.
std::string dir_problem(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return dir + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return dir + " is not a directory";
  return trust_problem(st, dir);
}

std::string home_dir() {
  // From the password database, not $HOME: the daemon and a cron job may
  // not agree on the environment, but they agree on the user.
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof(buf), &found) != 0 || !found
      || !found->pw_dir || std::strlen(found->pw_dir) <= 1)
    return {};
  return found->pw_dir;
}

std::optional<std::string> read_trusted(const std::string& path,
                                        rendezvous_problem& problem,
                                        std::string& error) {
  auto slash = path.rfind('/');
  auto dir = slash == std::string::npos ? std::string(".")
                                        : path.substr(0, slash ? slash : 1);
  // A directory that is not there is "missing"; one that is there but
  // could have been planted is "untrusted" (errno says nothing about that).
  struct stat dir_st{};
  bool dir_exists = ::lstat(dir.c_str(), &dir_st) == 0;
  if (auto why = dir_problem(dir); !why.empty()) {
    problem = dir_exists ? rendezvous_problem::untrusted
                         : rendezvous_problem::missing;
    error = "refusing " + path + ": " + why;
    return std::nullopt;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    problem = errno == ENOENT  ? rendezvous_problem::missing
              : errno == ELOOP ? rendezvous_problem::untrusted
                               : rendezvous_problem::unreadable;
    error = problem == rendezvous_problem::untrusted
              ? "refusing " + path + ": it is a symbolic link"
              : "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    why = path + " is not a regular file";
  else
    why = trust_problem(st, path);
  if (!why.empty()) {
    ::close(fd);
    problem = rendezvous_problem::untrusted;
    error = "refusing " + path + ": " + why;
    return std::nullopt;
  }
  std::string text;
  char buf[1024];
  for (ssize_t n;
       (n = ::read(fd, buf, sizeof(buf))) > 0 && text.size() < max_file_size;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  problem = rendezvous_problem::none;
  return text;
}

} // namespace

std::vector<std::string> runtime_dirs() {
  std::vector<std::string> dirs;
  if (auto* env = std::getenv("BALANCE_RUNTIME_DIR"); env && *env) {
    dirs.emplace_back(env);
    return dirs;
  }
  dirs.emplace_back(system_dir);
  auto tmp_name = "balance-" + std::to_string(::geteuid());
  dirs.push_back("/tmp/" + tmp_name);
  // Made by an instance that found /tmp/balance-$UID taken by another
  // user (mkdtemp: nobody can take a name in advance).
  if (DIR* tmp = ::opendir("/tmp")) {
    while (auto* entry = ::readdir(tmp)) {
      std::string name = entry->d_name;
      struct stat st {};
      auto path = "/tmp/" + name;
      if (name.rfind(tmp_name + ".", 0) == 0 && ::lstat(path.c_str(), &st) == 0
          && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid())
        dirs.push_back(path);
    }
    ::closedir(tmp);
  }
  if (auto home = home_dir(); !home.empty())
    dirs.push_back(home + "/.balance");
  return dirs;
}

std::string rendezvous_name(uint16_t port, const std::string& bind) {
  return "balance." + std::to_string(port) + "."
         + (bind.empty() ? std::string("0.0.0.0") : bind);
}

std::string socket_path_for(const std::string& rendezvous_path) {
  return rendezvous_path + ".sock";
}

std::optional<std::string> prepare_rendezvous_path(const std::string& name,
                                                   std::string& error) {
  std::string passed_over;
  for (auto& dir : runtime_dirs()) {
    // /run/balance is shared (0755: others see that an instance exists but
    // cannot read its secret or connect); per-user places are private.
    bool shared = dir == system_dir;
    if (shared && ::geteuid() != 0 && ::access(dir.c_str(), W_OK) != 0)
      continue;
    if (::mkdir(dir.c_str(), shared ? 0755 : 0700) != 0 && errno != EEXIST)
      continue;
    if (auto why = dir_problem(dir); !why.empty()) {
      passed_over += (passed_over.empty() ? "" : "; ") + why;
      continue;
    }
    auto path = dir + "/" + name;
    if (socket_path_for(path).size() >= sizeof(sockaddr_un::sun_path)) {
      passed_over += (passed_over.empty() ? "" : "; ") + dir
                     + ": path too long for a socket";
      continue;
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      continue;
    if (!passed_over.empty())
      log::notice("passed over " + passed_over + "; control file in " + dir);
    return path;
  }
  if (!std::getenv("BALANCE_RUNTIME_DIR")
      || !*std::getenv("BALANCE_RUNTIME_DIR")) {
    auto pattern = "/tmp/balance-" + std::to_string(::geteuid()) + ".XXXXXX";
    if (::mkdtemp(pattern.data())) {
      log::notice("passed over " + passed_over + "; control file in "
                  + pattern);
      return pattern + "/" + name;
    }
  }
  error = "no usable runtime directory (tried " +
          [] {
            std::string all;
            for (auto& d : runtime_dirs())
              all += (all.empty() ? "" : ", ") + d;
            return all;
          }()
          + ")" + (passed_over.empty() ? "" : ": " + passed_over);
  return std::nullopt;
}

bool write_rendezvous(const std::string& path, const rendezvous& r,
                      std::string& error) {
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream out;
  out << "pid=" << r.pid << "\nsocket=" << r.socket << "\nsecret=" << r.secret
      << "\n";
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
    if (key == "pid") {
      char* end = nullptr;
      long pid = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || pid <= 0 || pid > 0x3fffffff)
        return std::nullopt;
      r.pid = static_cast<int>(pid);
    } else if (key == "socket") {
      r.socket = value;
    } else if (key == "secret") {
      r.secret = value;
    }
  }
  if (r.pid <= 0 || r.socket.empty() || r.socket.front() != '/'
      || r.secret.empty())
    return std::nullopt;
  return r;
}

std::optional<rendezvous> read_rendezvous(const std::string& path,
                                          rendezvous_problem& problem,
                                          std::string& error) {
  auto text = read_trusted(path, problem, error);
  if (!text)
    return std::nullopt;
  auto r = parse_rendezvous(*text);
  if (!r) {
    problem = rendezvous_problem::malformed;
    error = path + " is not a balance control file";
  }
  return r;
}

std::optional<std::string> read_secret_file(const std::string& path,
                                            std::string& error) {
  rendezvous_problem problem;
  auto text = read_trusted(path, problem, error);
  if (!text)
    return std::nullopt;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("secret=", 0) == 0 && line.size() > 7)
      return line.substr(7);
  error = path + " holds no secret= line";
  return std::nullopt;
}

std::string find_rendezvous(const std::string& name, std::string& skipped) {
  for (auto& dir : runtime_dirs()) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
      continue;
    if (auto why = dir_problem(dir); !why.empty()) {
      skipped += (skipped.empty() ? "" : "; ") + ("ignored " + why);
      continue;
    }
    auto path = dir + "/" + name;
    if (::lstat(path.c_str(), &st) == 0)
      return path;
  }
  return {};
}

std::string find_rendezvous_by_pid(int pid, std::string& skipped) {
  for (auto& dir : runtime_dirs()) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
      continue;
    if (auto why = dir_problem(dir); !why.empty()) {
      skipped += (skipped.empty() ? "" : "; ") + ("ignored " + why);
      continue;
    }
    DIR* d = ::opendir(dir.c_str());
    if (!d)
      continue;
    std::string found;
    while (auto* entry = ::readdir(d)) {
      // balance.PORT.BIND, not its socket or a file being written
      std::string name = entry->d_name;
      if (name.rfind("balance.", 0) != 0
          || name.find(".sock") != std::string::npos
          || name.find(".tmp.") != std::string::npos)
        continue;
      rendezvous_problem problem;
      std::string error;
      auto rv = read_rendezvous(dir + "/" + name, problem, error);
      if (rv && rv->pid == pid) {
        found = dir + "/" + name;
        break;
      }
    }
    ::closedir(d);
    if (!found.empty())
      return found;
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
