#include "actors/session.hpp"

#include "log/log.hpp"

namespace balance {

namespace {

struct session {
  net::connection_ptr conn;
  directory_ptr directory;
  client_key key;
  uint32_t group = 0;
  tried_set tried;
};
using session_ptr = std::shared_ptr<session>;

void do_pick(const session_ptr& s);

void on_connect(const session_ptr& s, uint32_t channel,
                net::connect_result result) {
  if (result != net::connect_result::failed)
    return; // connected (the relay owns everything now) or aborted
  log::debug("connect to group " + std::to_string(s->group) + " channel "
             + std::to_string(channel) + " failed");
  s->tried.push_back(channel);
  do_pick(s);
}

void do_connect(const session_ptr& s, policy_view view, uint32_t channel) {
  auto& ch = view->channels()[channel];
  auto sched = s->directory->actor(s->group);
  // The slot goes back exactly once: here on failure (and under -a the
  // scheduler hears of it), else when the relay ends. Without -a the
  // closure is one shared_ptr and fits std::function's inline storage.
  auto load = ch.load;
  net::release_guard guard =
    view->autodisable ? net::release_guard{[load, sched, channel](bool failed) {
      load->release();
      if (failed) {
        load->failed_off.store(true, std::memory_order_relaxed);
        caf::anon_send(sched, failed_atom::value, channel);
      }
    }}
                      : net::release_guard{[load](bool) { load->release(); }};
  if (log::debug_enabled())
    log::debug("client " + s->conn->peer().to_string() + " -> group "
               + std::to_string(s->group) + " channel "
               + std::to_string(channel) + " (" + ch.target.to_string() + ")");
  s->conn->do_connect(ch.target, std::move(guard), ch.traffic,
                      [s, channel](net::connect_result r) {
                        on_connect(s, channel, r);
                      });
}

void do_pick(const session_ptr& s) {
  for (; s->group < s->directory->size(); ++s->group, s->tried.clear()) {
    auto view = s->directory->view(s->group);
    if (auto channel = view->pick(s->key, s->tried)) {
      do_connect(s, std::move(view), *channel);
      return;
    }
  }
  // Every group is exhausted: close the client (3.54 accepts, then closes).
  log::debug("no channel available for client " + s->conn->peer().to_string());
  s->conn->close();
}

} // namespace

void start_session(net::connection_ptr conn, directory_ptr directory) {
  auto s = std::make_shared<session>();
  s->key = client_key::of(conn->peer());
  s->conn = std::move(conn);
  s->directory = std::move(directory);
  do_pick(s);
}

} // namespace balance
