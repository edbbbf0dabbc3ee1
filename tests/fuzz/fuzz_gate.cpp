// libFuzzer target: arbitrary bytes from a peer at the control gate's local
// door (the same code serves the TCP door). Whatever arrives, the gate must
// write nothing back and hand nothing to BASP unless the bytes begin with
// a valid preamble, and it must never crash, hang or leak (ASan).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/control_gate.hpp"
#include "net/control_preamble.hpp"

using namespace balance::net;

namespace {

const std::string secret(64, 's');
std::atomic<int> handed{0};

struct gate_fixture {
  std::string dir;
  std::string path;
  control_gate gate{secret, [](int fd, control_door) {
                      ++handed;
                      ::close(fd);
                      return true;
                    }};
  gate_fixture() {
    char tmpl[] = "/tmp/fuzz-gate-XXXXXX";
    if (!::mkdtemp(tmpl))
      std::abort();
    dir = tmpl;
    path = dir + "/ctl.sock";
    std::string error;
    if (!gate.listen_local(path, error))
      std::abort();
    gate.start();
  }
};

gate_fixture& fixture() {
  static gate_fixture f;
  return f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  auto& f = fixture();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  f.path.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    std::abort();
  int before = handed.load();
  std::size_t sent = 0;
  while (sent < size) {
    auto n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break; // the gate may close early: it reads only the preamble
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string got;
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 5000) == 1) {
    char buf[256];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  bool valid = size >= preamble_size
               && check_preamble(data, preamble_size, secret, true)
                    == preamble_verdict::accepted;
  if (!valid && (!got.empty() || handed.load() != before))
    std::abort(); // an unauthenticated peer got through or got an answer
  if (valid && got.substr(0, 1) != std::string(1, preamble_accepted))
    std::abort(); // a valid peer was not let in
  return 0;
}
