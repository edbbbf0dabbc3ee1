#include "net/session.hpp"

#include "log/log.hpp"

namespace balance::net {

namespace {

struct session {
  connection_ptr conn;
  failover_walk walk;
};

using session_ptr = std::shared_ptr<session>;

void on_channel_result(const session_ptr& s, connect_result result);

void try_channel(const session_ptr& s) {
  auto grant = s->walk.next();
  if (!grant) {
    // Every group is exhausted: close the client (3.54 accepts, then closes).
    log::debug("no channel available for client "
               + s->conn->peer().to_string());
    s->conn->close();
    return;
  }
  if (log::debug_enabled())
    log::debug("client " + s->conn->peer().to_string() + " -> group "
               + std::to_string(s->walk.group()) + " channel "
               + std::to_string(s->walk.channel()) + " ("
               + grant->target.to_string() + ")");
  // The handler is one shared_ptr: it fits std::function's own storage.
  s->conn->do_connect(grant->target, std::move(grant->lease),
                      [s](connect_result r) { on_channel_result(s, r); });
}

void on_channel_result(const session_ptr& s, connect_result result) {
  if (result != connect_result::failed)
    return; // connected (the relay owns everything now) or aborted
  log::debug("connect to group " + std::to_string(s->walk.group()) + " channel "
             + std::to_string(s->walk.channel()) + " failed");
  try_channel(s);
}

void start_walk(connection_ptr conn,
                std::shared_ptr<const published_groups> groups) {
  auto walk = failover_walk{std::move(groups), conn->peer()};
  try_channel(
    std::make_shared<session>(session{std::move(conn), std::move(walk)}));
}

} // namespace

void start_session(connection_ptr conn,
                   std::shared_ptr<const published_groups> groups) {
  // A client in an --accept-proxy range speaks through a proxy: its
  // header names the client whose address a hash group hashes (peer()
  // once read). Nobody else may: their bytes, header or not, are data.
  auto& trusted = conn->settings().accept_proxy;
  if (!trusted.empty() && any_contains(trusted, conn->peer())) {
    conn->await_proxy_header(
      [groups = std::move(groups)](const connection_ptr& c) {
        start_walk(c, groups);
      });
    return;
  }
  start_walk(std::move(conn), std::move(groups));
}

} // namespace balance::net
