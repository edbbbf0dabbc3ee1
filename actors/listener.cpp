#include "actors/listener.hpp"

namespace balance {

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config) {
  self->state.config = config;
  auto& sys = self->system();
  auto settings = config.settings;
  auto directory = config.directory;
  auto* registry = config.registry;
  self->state.acceptor = std::make_unique<net::acceptor>(
    *config.pool, config.listen_fd,
    [&sys, settings, directory, registry](net::socket_type client,
                                          const net::endpoint& peer) {
      auto conn = std::make_shared<net::connection>(std::move(client), peer,
                                                    settings, *registry);
      sys.spawn(session, std::move(conn), directory);
    });
  self->state.acceptor->start();
  return {
    [=](stop_atom) {
      // Closing is posted to each connection's thread; the caller waits
      // for the registry to drain.
      if (self->state.acceptor)
        self->state.acceptor->stop();
      return static_cast<uint64_t>(self->state.config.registry->close_all());
    },
    [=](show_atom) {
      uint64_t errors = self->state.acceptor
                          ? self->state.acceptor->accept_errors()
                          : 0;
      return caf::make_result(
        static_cast<uint64_t>(self->state.config.registry->size()), errors);
    },
  };
}

} // namespace balance
