#include "actors/listener.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "net/session.hpp"

namespace balance {

namespace {

using listener_pointer = listener_actor::stateful_pointer<listener_state>;

/// Closes every acceptor (each on its io thread, which reports back with
/// `closed`); nothing here waits for a thread that may be busy (a blocked
/// -p dump).
void begin_closing(listener_pointer self, bool take_backlog) {
  auto& st = self->state;
  if (st.closing)
    return;
  st.closing = true;
  st.open_acceptors = st.acceptors.size();
  auto me = caf::actor_cast<listener_actor>(self);
  for (auto& a : st.acceptors)
    a->stop([me] { caf::anon_send(me, closed_atom::value); }, take_backlog);
}

} // namespace

listener_actor::behavior_type listener(listener_pointer self,
                                       listener_config config) {
  self->state.config = config;
  auto settings = config.settings;
  std::shared_ptr<const published_groups> groups = config.directory;
  auto on_accept = [settings, groups](asio::io_context& ctx, int fd,
                                      const endpoint& peer) {
    net::start_session(net::connection::accept(ctx, fd, peer, *settings),
                       groups);
  };
  auto& fds = config.listen_fds;
  auto threads = config.pool->size();
  for (std::size_t i = 0; i < std::max(threads, fds.size()); ++i) {
    int fd = i < fds.size() ? fds[i] : net::open_sibling_listener(fds[0]);
    self->state.fds.push_back(fd);
    self->state.acceptors.push_back(std::make_unique<net::acceptor>(
      config.pool->at(i % threads), fd, on_accept));
    self->state.acceptors.back()->start();
  }
  // Closing is posted to each connection's thread; the caller waits for
  // the registry to drain.
  auto close_all = [=] {
    return static_cast<uint64_t>(self->state.config.registry->close_all());
  };
  auto live = [=] {
    return static_cast<uint64_t>(self->state.config.registry->size());
  };
  return {
    [=](stop_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (st.closed)
        return close_all(); // a kill that timed out is being retried, or
                            // a kill during a drain
      auto rp = self->make_response_promise<uint64_t>();
      st.stopping.push_back(rp);
      begin_closing(self, false);
      return rp;
    },
    [=](drain_atom, bool take_backlog) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (st.closed)
        return live();
      auto rp = self->make_response_promise<uint64_t>();
      st.draining.push_back(rp);
      begin_closing(self, take_backlog);
      return rp;
    },
    [=](closed_atom) {
      auto& st = self->state;
      if (!st.closing || st.closed || --st.open_acceptors > 0)
        return;
      st.closed = true;
      for (auto& rp : st.draining)
        rp.deliver(live()); // (to a requester that gave up: dropped)
      st.draining.clear();
      if (st.stopping.empty())
        return;
      auto closing = close_all();
      for (auto& rp : st.stopping)
        rp.deliver(closing);
      st.stopping.clear();
    },
    [=](fds_atom) {
      // Before closing began every descriptor is open (only closing, which
      // this actor starts, closes them), so no number here can have been
      // reused by another socket.
      std::vector<int> dups;
      if (!self->state.closing)
        for (int fd : self->state.fds)
          if (int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3); dup >= 0)
            dups.push_back(dup);
      return dups;
    },
    [=](show_atom) {
      uint64_t errors = 0;
      for (auto& a : self->state.acceptors)
        errors += a->accept_errors();
      return caf::make_result(live(), errors);
    },
  };
}

} // namespace balance
