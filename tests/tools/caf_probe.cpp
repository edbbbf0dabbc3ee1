// A stock CAF 0.17 client for the control-plane tests: what a hostile peer
// can do with CAF's own API. `connect HOST PORT` tries CAF's plain
// middleman connect (no balance preamble); `local SOCKET SECRET` passes the
// gate legitimately. Either way, whatever actor it reaches is sent exit
// messages (kill and a user-defined reason) and an error message. Prints
// one line: REACHED <n> or NOT-REACHED <reason>.
#include <chrono>
#include <cstdio>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/basp_handoff.hpp"
#include "net/control_dial.hpp"

using namespace std::chrono_literals;

namespace {

void attack(caf::scoped_actor& self, const caf::strong_actor_ptr& target) {
  auto dyn = caf::actor_cast<caf::actor>(target);
  caf::anon_send(dyn, caf::make_error(caf::sec::runtime_error));
  caf::anon_send_exit(dyn, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(dyn, caf::exit_reason::kill);
  self->send_exit(dyn, caf::error(42, caf::atom("hostile")));
  // Let the middleman write what was queued before the process ends.
  self->request(dyn, 500ms, caf::get_atom::value)
    .receive([](caf::message&) {}, [](caf::error&) {});
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: caf_probe connect HOST PORT | local SOCKET SECRET\n");
    return 64;
  }
  std::string mode = argv[1];
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 1);
  balance::register_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  std::string result;
  {
    caf::scoped_actor self{sys};
    caf::strong_actor_ptr target;
    if (mode == "connect") {
      auto port = static_cast<uint16_t>(std::stoi(argv[3]));
      self
        ->request(sys.middleman().actor_handle(), 3s, caf::connect_atom::value,
                  std::string(argv[2]), port)
        .receive([&](caf::node_id&, caf::strong_actor_ptr& ptr,
                     std::set<std::string>&) { target = ptr; },
                 [&](caf::error& err) {
                   result = "NOT-REACHED " + sys.render(err);
                 });
    } else {
      balance::net::control_link link;
      auto dialled = link.dial_local(argv[2], argv[3], 3s);
      if (dialled.fd < 0) {
        result = "NOT-REACHED " + dialled.error;
      } else {
        std::string error;
        auto ctl = balance::basp_connect(self, dialled.fd, 3s, error);
        if (ctl)
          target = caf::actor_cast<caf::strong_actor_ptr>(*ctl);
        else
          result = "NOT-REACHED " + error;
      }
    }
    if (target) {
      attack(self, target);
      result = "REACHED";
    }
  }
  std::printf("%s\n", result.c_str());
  std::fflush(stdout);
  std::_Exit(0);
}
