#include "net/connection.hpp"

#include <cassert>
#include <sys/socket.h>

#include <asio/post.hpp>

#include "log/log.hpp"
#include "net/connection_registry.hpp"

namespace balance::net {

namespace {

using phase = connection::phase;

// The arrows at the top of connection.hpp.
[[maybe_unused]] bool may_enter(phase from, phase to) {
  switch (from) {
    case phase::awaiting_header:
      return to == phase::connecting || to == phase::closed;
    case phase::connecting:
      // (to awaiting_header only right after accept: await_proxy_header)
      return to == phase::awaiting_header || to == phase::relaying
             || to == phase::closed;
    case phase::relaying: return to == phase::resetting || to == phase::closed;
    case phase::resetting: return to == phase::closed;
    case phase::closed: return false;
  }
  return false;
}

} // namespace

connection::connection(asio::io_context& ctx, const endpoint& peer,
                       const relay_settings& settings)
  : ctx_(ctx), client_(&connection::on_events, this),
    backend_(&connection::on_events, this), peer_(peer), settings_(&settings) {
  settings_->registry->add(this);
  if (settings.dump)
    for (auto& dir : dirs_)
      dir.never_splice(); // the dump needs the bytes
}

std::shared_ptr<connection> connection::accept(asio::io_context& ctx,
                                               int client_fd,
                                               const endpoint& peer,
                                               const relay_settings& settings) {
  auto c = std::make_shared<connection>(ctx, peer, settings);
  std::error_code ec;
  c->client_.watch(ctx, client_fd, ec);
  if (ec) {
    log::error("cannot watch client " + peer.to_string() + ": " + ec.message());
    c->enter(phase::closed);
    return c;
  }
  // A client usually speaks first and has spoken by the time it is
  // accepted (wrk writes as soon as its connect returns, and on loopback
  // that is before the proxy's accept): reading it at once lets the
  // request leave in the accept handler, right after the backend connect,
  // instead of one epoll round later. The hint only picks the syscall: a
  // client with nothing to say yet costs one recv (EAGAIN).
  c->client_.readable = true;
  c->self_ = c;
  return c;
}

connection::~connection() {
  settings_->registry->remove(this);
  // lease_ gives the channel slot back as it goes.
}

void connection::enter(phase next) {
  assert(may_enter(phase_, next) && "not an arrow of connection.hpp");
  phase_ = next;
}

void connection::on_events(void* self, socket_watch& side) {
  auto* c = static_cast<connection*>(self);
  switch (c->phase_) {
    case phase::awaiting_header: c->on_header_events(side); return;
    case phase::connecting: c->on_connecting_events(side); return;
    case phase::relaying: c->on_relay_events(side); return;
    case phase::resetting: // the failed side is closed; the other waits
    case phase::closed: return;
  }
}

timer_type& connection::timer() {
  if (!timer_)
    timer_ = std::make_unique<timer_type>(ctx_.get_executor());
  return *timer_;
}

void connection::reset() {
  if (phase_ == phase::closed)
    return;
  linger abortive{1, 0};
  for (auto* side : {&client_, &backend_})
    if (side->is_open())
      ::setsockopt(side->fd(), SOL_SOCKET, SO_LINGER, &abortive,
                   sizeof(abortive));
  close();
}

void connection::close() {
  if (phase_ == phase::closed)
    return;
  auto was = phase_;
  enter(phase::closed);
  if (was == phase::relaying)
    reset_owed_peers(); // (a resetting connection has reset its peer)
  if (timer_)
    timer_->cancel();
  client_.close(); // closing takes a socket out of the epoll set
  backend_.close();
  dirs_[0].release();
  dirs_[1].release();
  if (attempt_)
    on_connect({}); // as aborted: the lease goes back, the session stops
  if (inbound_)
    inbound_->on_header = nullptr; // the session ends with it
  // Events collected before the sockets closed may still be queued behind
  // this handler: let go of this connection only after them.
  if (self_)
    asio::post(ctx_, [self = std::move(self_)] {});
}

} // namespace balance::net
