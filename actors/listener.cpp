#include "actors/listener.hpp"

#include <unistd.h>

#include "net/session.hpp"

namespace balance {

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
         listener_config config) {
  self->state.config = config;
  auto settings = config.settings;
  std::shared_ptr<const published_groups> groups = config.directory;
  auto on_accept = [settings, groups](asio::io_context& ctx, int fd,
                                      const endpoint& peer) {
    net::start_session(net::connection::accept(ctx, fd, peer, *settings),
                       groups);
  };
  for (std::size_t i = 0; i < config.pool->size(); ++i) {
    int fd = i == 0 ? config.listen_fd
                    : net::open_sibling_listener(config.listen_fd);
    self->state.acceptors.push_back(
      std::make_unique<net::acceptor>(config.pool->at(i), fd, on_accept));
    self->state.acceptors.back()->start();
  }
  // Closing is posted to each connection's thread; the caller waits for
  // the registry to drain.
  auto close_all = [=] {
    return static_cast<uint64_t>(self->state.config.registry->close_all());
  };
  return {
    [=](stop_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (st.stopped)
        return close_all(); // a kill that timed out is being retried
      auto rp = self->make_response_promise<uint64_t>();
      st.waiting.push_back(rp);
      if (!st.stopping) {
        st.stopping = true;
        st.open_acceptors = st.acceptors.size();
        // Each io thread says when it has closed its acceptor; nothing here
        // waits for a thread that may be busy (a blocked -p dump).
        auto me = caf::actor_cast<listener_actor>(self);
        for (auto& a : st.acceptors)
          a->stop([me] { caf::anon_send(me, closed_atom::value); });
      }
      return rp;
    },
    [=](closed_atom) {
      auto& st = self->state;
      if (!st.stopping || st.stopped || --st.open_acceptors > 0)
        return;
      st.stopped = true;
      auto closing = close_all();
      for (auto& rp : st.waiting)
        rp.deliver(closing); // (to a requester that gave up: dropped)
      st.waiting.clear();
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
