#include "actors/listener.hpp"

#include <unistd.h>

#include "actors/session.hpp"

namespace balance {

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config) {
  self->state.config = config;
  auto settings = config.settings;
  auto directory = config.directory;
  auto on_accept = [settings, directory](asio::io_context& ctx, int fd,
                                         const net::endpoint& peer) {
    start_session(net::connection::accept(ctx, fd, peer, *settings),
                  directory);
  };
  for (std::size_t i = 0; i < config.pool->size(); ++i) {
    int fd = i == 0 ? config.listen_fd
                    : net::open_sibling_listener(config.listen_fd);
    self->state.acceptors.push_back(
      std::make_unique<net::acceptor>(config.pool->at(i), fd, on_accept));
    self->state.acceptors.back()->start();
  }
  return {
    [=](stop_atom) {
      // Closing is posted to each connection's thread; the caller waits
      // for the registry to drain.
      for (auto& a : self->state.acceptors)
        a->stop();
      return static_cast<uint64_t>(self->state.config.registry->close_all());
    },
    [=](show_atom) {
      uint64_t errors = 0;
      for (auto& a : self->state.acceptors)
        errors += a->accept_errors();
      return caf::make_result(
        static_cast<uint64_t>(self->state.config.registry->size()), errors);
    },
  };
}

} // namespace balance
