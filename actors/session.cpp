#include "actors/session.hpp"

#include <asio/post.hpp>

#include "net/log.hpp"

namespace balance {

namespace {

using session_pointer = caf::stateful_actor<session_state>*;

void do_pick(session_pointer self);

// Nothing is left for this client: close it (3.54 accepts, then closes).
void give_up(session_pointer self) {
  auto conn = self->state.conn;
  log::debug("no channel available for client " + conn->peer().to_string());
  asio::post(conn->executor(), [conn] { conn->close(); });
  self->quit();
}

void on_grant(session_pointer self, const grant& g) {
  auto& st = self->state;
  if (!g.ok) {
    // This group has nothing for the client: fail over to the next one.
    ++st.group;
    st.tried.clear();
    if (st.group >= st.directory->groups.size()) {
      give_up(self);
      return;
    }
    do_pick(self);
    return;
  }
  auto sched = st.directory->groups[st.group];
  auto channel = g.channel;
  net::release_guard guard{[sched, channel](bool failed) {
    if (failed)
      caf::anon_send(sched, failed_atom::value, channel);
    else
      caf::anon_send(sched, release_atom::value, channel);
  }};
  auto me = caf::actor_cast<caf::actor>(self);
  auto conn = st.conn;
  log::debug("client " + conn->peer().to_string() + " -> group "
             + std::to_string(st.group) + " channel " + std::to_string(channel)
             + " (" + g.target.to_string() + ")");
  asio::post(conn->executor(),
             [conn, me, channel, target = g.target, traffic = g.traffic,
              guard = std::make_shared<net::release_guard>(std::move(guard))] {
               conn->do_connect(target, std::move(*guard), traffic,
                                [me, channel](net::connect_result r) {
                                  caf::anon_send(me, result_atom::value,
                                                 static_cast<int32_t>(r),
                                                 channel);
                                });
             });
}

void do_pick(session_pointer self) {
  auto& st = self->state;
  // No timeout: a scheduler always answers, and a timer per pick would
  // cost a clock entry per connection.
  self
    ->request(st.directory->groups[st.group], caf::infinite, pick_atom::value,
              st.key, st.tried)
    .then([=](const grant& g) { on_grant(self, g); },
          [=](const caf::error&) { give_up(self); });
}

} // namespace

caf::behavior session(caf::stateful_actor<session_state>* self,
                      net::connection_ptr conn, directory_ptr directory) {
  auto& st = self->state;
  st.key = client_key::of(conn->peer()).hash;
  st.conn = std::move(conn);
  st.directory = std::move(directory);
  do_pick(self);
  return {
    [=](result_atom, int32_t result, uint32_t channel) {
      switch (static_cast<net::connect_result>(result)) {
        case net::connect_result::connected:
        case net::connect_result::aborted:
          // The relay (or nobody) owns the sockets now; our part is done.
          self->quit();
          return;
        case net::connect_result::failed:
          log::debug("connect to group " + std::to_string(self->state.group)
                     + " channel " + std::to_string(channel) + " failed");
          self->state.tried.push_back(channel);
          do_pick(self);
          return;
      }
    },
  };
}

} // namespace balance
