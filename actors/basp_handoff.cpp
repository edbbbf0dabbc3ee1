#include "actors/basp_handoff.hpp"

#include <unistd.h>

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>

// The broker's (publish_atom, scribe_ptr, ...) and (connect_atom,
// scribe_ptr, port) handlers are not public API (CAF's own tests use
// them); tests/integration covers the hand-off, and this pin makes a CAF
// upgrade a deliberate step.
#if CAF_VERSION != 1706
#error "basp_handoff relies on CAF 0.17.6's BASP broker handlers: re-verify"
#endif

namespace balance {

namespace {

caf::actor basp_broker(caf::actor_system& sys) {
  return sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

} // namespace

bool basp_accept(caf::actor_system& sys, int fd, uint16_t door,
                 const caf::strong_actor_ptr& whom,
                 const std::set<std::string>& interface) {
  auto broker = basp_broker(sys);
  if (!broker || !whom) {
    ::close(fd);
    return false;
  }
  auto scribe = sys.middleman().backend().new_scribe(fd);
  caf::anon_send(broker, caf::publish_atom::value, std::move(scribe), door,
                 whom, interface);
  return true;
}

std::optional<control_actor>
basp_connect(caf::scoped_actor& self, int fd,
             std::chrono::milliseconds timeout, std::string& error,
             std::set<std::string>* interface) {
  auto& sys = self->system();
  auto broker = basp_broker(sys);
  if (!broker) {
    ::close(fd);
    error = "no BASP broker";
    return std::nullopt;
  }
  auto scribe = sys.middleman().backend().new_scribe(fd);
  std::optional<control_actor> result;
  self
    ->request(broker, timeout, caf::connect_atom::value, std::move(scribe),
              uint16_t{0})
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& ifs) {
        // An older daemon lacks later requests; the session offers only
        // what `interface` has (the handle's static type is the full one).
        if (!ptr)
          error = "no control actor behind the endpoint";
        else if (!sys.assignable<control_base>(ifs))
          error = "incompatible control interface";
        else
          // A daemon from before a later request (control_actor's
          // extensions) answers that one with an error, and the
          // client says so; everything else works.
          result = caf::actor_cast<control_actor>(std::move(ptr));
        if (interface)
          *interface = std::move(ifs);
      },
      [&](caf::error& err) { error = sys.render(err); });
  return result;
}

bool has_lifecycle(caf::actor_system& sys,
                   const std::set<std::string>& interface) {
  return sys.assignable<lifecycle_actor>(interface);
}

void basp_forget_departed_nodes(caf::actor_system& sys) {
  auto handle = basp_broker(sys);
  if (!handle)
    return;
  // Brokers run on the multiplexer's thread, and so does what is posted to
  // it: this runs between two of the broker's own steps, never beside one.
  auto* broker = static_cast<caf::io::basp_broker*>(
    caf::actor_cast<caf::abstract_actor*>(handle));
  sys.middleman().backend().post([broker, handle] {
    auto& servers = broker->spawn_servers;
    for (auto i = servers.begin(); i != servers.end();) {
      if (broker->instance.tbl().lookup(i->first)) {
        ++i;
        continue;
      }
      // The helper actor behind the entry waits up to 5 minutes for the
      // node's answer (held by the registry meanwhile); a `-c` client that
      // left first never gives one.
      caf::anon_send_exit(i->second, caf::exit_reason::user_shutdown);
      i = servers.erase(i);
    }
  });
}

} // namespace balance
