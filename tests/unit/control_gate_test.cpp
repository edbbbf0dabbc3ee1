// The control gate and its client: who gets through, what a refused peer
// sees (nothing), and the caps and deadlines that bound unauthenticated
// peers. BASP is replaced by a hand-off that greets through the socketpair.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "net/control_dial.hpp"
#include "net/control_gate.hpp"
#include "net/control_preamble.hpp"

using namespace balance;
using namespace balance::net;
using namespace std::chrono_literals;

namespace {

const std::string secret(64, 'a');

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/gate-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~temp_dir() {
    std::string cmd = "rm -rf '" + path + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
};

/// Stands in for BASP: writes a greeting into its end and keeps it open.
struct fake_basp {
  std::mutex mutex;
  std::vector<int> fds;
  std::vector<control_door> doors;
  control_handoff handoff() {
    return [this](int fd, control_door door) {
      REQUIRE(::write(fd, "basp", 4) == 4);
      std::lock_guard<std::mutex> guard{mutex};
      fds.push_back(fd);
      doors.push_back(door);
      return true;
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> guard{mutex};
    return fds.size();
  }
  ~fake_basp() {
    for (int fd : fds)
      ::close(fd);
  }
};

/// A gate with its local door open in a fresh directory, running.
struct running_gate {
  temp_dir dir;
  fake_basp basp;
  std::string path = dir.path + "/ctl.sock";
  control_gate gate;
  explicit running_gate(control_gate_limits limits = {})
    : gate(secret, basp.handoff(), limits) {
    std::string error;
    REQUIRE(gate.listen_local(path, error));
  }
};

int raw_unix_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  path.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  return fd;
}

/// What the peer reads until EOF or `timeout` (then "<open>" is appended).
std::string read_all(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
    char buf[256];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return got;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got + "<open>";
}

} // namespace

TEST_CASE("the preamble carries the magic and the secret, nothing else",
          "[gate]") {
  auto p = make_preamble(secret);
  REQUIRE(p.size() == preamble_size);
  auto bytes = reinterpret_cast<const uint8_t*>(p.data());
  CHECK(check_preamble(bytes, p.size(), secret, true)
        == preamble_verdict::accepted);
  CHECK(check_preamble(bytes, p.size(), std::string(64, 'b'), true)
        == preamble_verdict::bad_secret);
  CHECK(check_preamble(bytes, p.size() - 1, secret, true)
        == preamble_verdict::bad_magic);
  auto wrong_magic = p;
  wrong_magic[0] = 'X';
  CHECK(check_preamble(reinterpret_cast<const uint8_t*>(wrong_magic.data()),
                       wrong_magic.size(), secret, true)
        == preamble_verdict::bad_magic);
  // The TLS door checks the magic only: the certificate is the credential.
  CHECK(check_preamble(bytes, p.size(), std::string(64, 'b'), false)
        == preamble_verdict::accepted);
  // A secret of another length never matches, padded or cut.
  auto short_secret = make_preamble("abc");
  CHECK(check_preamble(reinterpret_cast<const uint8_t*>(short_secret.data()),
                       short_secret.size(), "abc", true)
        == preamble_verdict::bad_secret);
  CHECK_FALSE(secret_matches("", ""));
}

TEST_CASE("the local door hands an authenticated peer to BASP and refuses the rest silently",
          "[gate]") {
  running_gate g;
  auto& gate = g.gate;
  auto& basp = g.basp;
  auto& path = g.path;
  gate.start();

  control_link link;
  auto ok = link.dial_local(path, secret, 2s);
  REQUIRE(ok.fd >= 0);
  CHECK(read_all(ok.fd, 1000ms).substr(0, 4) == "basp");
  CHECK(basp.count() == 1);
  CHECK(gate.active() == 1);
  ::close(ok.fd);

  auto refused = link.dial_local(path, std::string(64, 'b'), 2s);
  CHECK(refused.fd < 0);
  CHECK(refused.refused);
  CHECK(basp.count() == 1);

  // Garbage: closed without a byte written back.
  int raw = raw_unix_connect(path);
  std::string junk(100, '\xff');
  REQUIRE(::write(raw, junk.data(), junk.size()) == 100);
  CHECK(read_all(raw, 3000ms).empty());
  ::close(raw);
  gate.stop();
}

TEST_CASE("a silent peer is closed at the authentication deadline", "[gate]") {
  control_gate_limits limits;
  limits.auth_deadline = 200ms;
  running_gate g(limits);
  auto& gate = g.gate;
  auto& path = g.path;
  gate.start();
  int raw = raw_unix_connect(path);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(read_all(raw, 5000ms).empty());
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  ::close(raw);
  gate.stop();
}

TEST_CASE("peers beyond the pending cap wait in the backlog until a slot frees", "[gate]") {
  control_gate_limits limits;
  limits.max_pending = 2;
  limits.auth_deadline = 300ms;
  running_gate g(limits);
  auto& gate = g.gate;
  auto& path = g.path;
  gate.start();
  std::vector<int> silent;
  for (int i = 0; i < 4; ++i)
    silent.push_back(raw_unix_connect(path));
  control_link link;
  // Behind four silent peers, two slots: served once the deadlines free them.
  auto ok = link.dial_local(path, secret, 3s);
  CHECK(ok.fd >= 0);
  for (int fd : silent)
    ::close(fd);
  if (ok.fd >= 0)
    ::close(ok.fd);
  gate.stop();
}

TEST_CASE("the active cap keeps further peers waiting until one leaves", "[gate]") {
  control_gate_limits limits;
  limits.max_active = 1;
  running_gate g(limits);
  auto& gate = g.gate;
  auto& path = g.path;
  gate.start();
  control_link link;
  auto first = link.dial_local(path, secret, 2s);
  REQUIRE(first.fd >= 0);
  auto second = link.dial_local(path, secret, 300ms);
  CHECK(second.fd < 0);
  CHECK_FALSE(second.refused); // not refused: not answered yet
  // The gate sees the peer leave through its relay and frees the slot.
  ::close(first.fd);
  auto third = link.dial_local(path, secret, 2s);
  CHECK(third.fd >= 0);
  if (third.fd >= 0)
    ::close(third.fd);
  gate.stop();
}

TEST_CASE("the TCP door wants the secret and a removed local socket is bound again", "[gate]") {
  running_gate g;
  auto& gate = g.gate;
  auto& basp = g.basp;
  auto& path = g.path;
  auto where = parse_numeric_address("127.0.0.1");
  REQUIRE(where);
  std::string error;
  auto port = gate.listen_tcp(*where, nullptr, error);
  REQUIRE(port);
  gate.start();
  control_link link;
  auto tcp = link.dial_tcp("127.0.0.1", *port, secret, nullptr, 2s);
  REQUIRE(tcp.fd >= 0);
  CHECK(read_all(tcp.fd, 1000ms).substr(0, 4) == "basp");
  ::close(tcp.fd);
  CHECK(link.dial_tcp("127.0.0.1", *port, "wrong", nullptr, 2s).refused);

  REQUIRE(::unlink(path.c_str()) == 0);
  CHECK(link.dial_local(path, secret, 500ms).fd < 0);
  REQUIRE(gate.restore_local());
  auto again = link.dial_local(path, secret, 2s);
  CHECK(again.fd >= 0);
  if (again.fd >= 0)
    ::close(again.fd);
  {
    std::lock_guard<std::mutex> guard{basp.mutex};
    CHECK(basp.doors.front() == control_door::token);
    CHECK(basp.doors.back() == control_door::local);
  }
  gate.stop();
}
