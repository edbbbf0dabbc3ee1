// One proxied connection on one io_context, in one of five phases:
//
//   (awaiting_header) ---> connecting ---> relaying ---> resetting ---> closed
//          |                   |               |                          ^
//          |                   |               +--------------------------+
//          +-------------------+------------------------------------------+
//
// awaiting_header: only for a client in an --accept-proxy range, entered
//   right after accept (before any connect attempt): its PROXY header is
//   read (proxy_header_read.cpp: peeked, then exactly its bytes taken,
//   under a deadline), and its source becomes the client's address.
// connecting: accepted; its session picks a channel and the backend
//   connect runs (backend_connect.cpp: timeout, outgoing bind, the
//   client leaving meanwhile, then --send-proxy's header before any
//   client byte). A failed attempt stays here for the next.
// relaying: both directions run independently (relay.cpp); EOF on one
//   side becomes shutdown(SHUT_WR) on the other (half-close) and the
//   connection ends when both are done. A buffer is held only while bytes
//   are in flight (relay_direction.hpp).
// resetting: a socket failed; the other peer gets a reset once it has
//   what was relayed to it (bounded).
// closed: both sockets closed (kill, a signal, -T, no channel left, a
//   bad or missing PROXY header, or the end of the relay); the connection
//   lets go of itself once the events queued before that have run.
//
//   client --dir 0--> backend      dir d: receive(src) -> send(dst), run
//   client <--dir 1-- backend             again by the sockets' events
//
// A connection keeps itself alive from accept() to close(): its sockets
// are in the epoll set, and events collected before close() may still be
// queued, so it lets go of itself only in a handler posted by close().
// The channel's slot is held as a lease from do_connect() until the
// connect fails or the connection is destroyed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <asio/io_context.hpp>

#include "core/cidr.hpp"
#include "core/endpoint.hpp"
#include "core/group_policy.hpp"
#include "core/proxy_header.hpp"
#include "net/relay_direction.hpp"
#include "net/socket_watch.hpp"
#include "net/timer.hpp"

namespace balance {
class packet_dump;
} // namespace balance

namespace balance::net {

class connection_registry;

/// What every connection of an instance shares (read-only once running).
struct relay_settings {
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds idle_timeout{0};    ///< 0 = never
  std::optional<endpoint> out_bind;        ///< -B
  packet_dump* dump = nullptr;             ///< -p
  connection_registry* registry = nullptr; ///< every live connection
  /// --send-proxy: the header written to a channel before the client's
  /// first byte (none: nothing, and no syscall for it).
  proxy_version send_proxy = proxy_version::none;
  /// --accept-proxy: clients in these ranges must begin with a PROXY
  /// header; empty: nobody may.
  std::vector<cidr> accept_proxy;
};

enum class connect_result { connected, failed, aborted };

class connection : public std::enable_shared_from_this<connection> {
public:
  using connect_handler = std::function<void(connect_result)>;
  /// Runs once a client's PROXY header is read (not when it is bad,
  /// missing or late: the connection is closed then).
  using header_handler =
    std::function<void(const std::shared_ptr<connection>&)>;

  enum class phase { awaiting_header, connecting, relaying, resetting, closed };

  /// Takes the accepted, non-blocking `client_fd` (closed on failure, and
  /// the connection is then closed too), on `ctx`'s thread. `settings`
  /// (and its registry) outlive every connection.
  static std::shared_ptr<connection> accept(asio::io_context& ctx,
                                            int client_fd, const endpoint& peer,
                                            const relay_settings& settings);
  connection(asio::io_context& ctx, const endpoint& peer,
             const relay_settings& settings);
  ~connection();

  /// The client: the socket's peer, or the source its PROXY header named.
  const endpoint& peer() const { return peer_; }
  const relay_settings& settings() const { return *settings_; }
  asio::io_context::executor_type executor() { return ctx_.get_executor(); }

  // -- called on this connection's io thread only ---------------------------

  /// Before the first connect: reads the client's PROXY header (v1 or
  /// v2), within the connect timeout (at least 3 s, as the spec asks),
  /// then runs `on_header`. A malformed header closes the connection
  /// with a notice; none of its bytes ever reach a channel.
  void await_proxy_header(header_handler on_header);

  /// Connects to `target`; on success the relay starts and holds `lease`
  /// (and counts bytes in its counters) until the connection ends, on
  /// failure the lease fails (or is released when this host, not the
  /// channel, is at fault). `done(result)` runs afterwards (`aborted`: the
  /// connection was closed meanwhile, stop trying).
  void do_connect(const endpoint& target, slot_lease lease,
                  connect_handler done);
  /// Closes both sides (kill, a signal, -T, no channel left for the
  /// client): with a FIN, or a reset to a peer whose stream is cut short.
  void close();
  /// Resets both peers and closes (--on-down shutdown: the channel is
  /// down, whatever was in flight is cut, and both ends must know).
  void reset();
  /// Whether this connection holds (or is connecting on) a slot of
  /// `channel` in `group`.
  bool holds(uint32_t group, uint32_t channel) const {
    return lease_ && lease_.group() == group && lease_.channel() == channel;
  }

private:
  // -- phases (connection.cpp) ------------------------------------------------
  static void on_events(void* self, socket_watch& side);
  /// Moves to `next`; asserts that the move is one of the arrows above.
  void enter(phase next);
  timer_type& timer();

  // -- awaiting_header (proxy_header_read.cpp) --------------------------------
  void on_header_events(socket_watch& side);
  void do_read_header();
  void on_header_deadline(std::error_code ec);
  void refuse_header(const char* why);

  // -- connecting (backend_connect.cpp) ---------------------------------------
  void on_connecting_events(socket_watch& side);
  void on_connect(std::error_code ec, bool channel_at_fault = true);
  void report_local_failure(const endpoint& target, const char* step,
                            std::error_code ec);
  void do_connect_timer();
  void on_connect_timer(std::error_code ec);
  void on_client_while_connecting();
  /// --send-proxy: the header, in one send, before any client byte; false
  /// if the channel did not take it whole (a failed connect).
  bool send_proxy_header();

  // -- relaying and resetting (relay.cpp) -------------------------------------
  void start_relay();
  void on_relay_events(socket_watch& side);
  void do_relay(int dir);
  void on_eof(int dir);
  void on_sink_failed(int dir, std::error_code ec);
  void account(int dir, const char* data, std::size_t n);
  void do_idle_check();
  void on_idle_check(std::error_code ec);
  /// Whether bytes moved since the last idle check that no receive timed:
  /// sends of bytes that had waited, or acknowledgements from a peer.
  bool moved_unclocked();
  /// A socket failed: closes it, and resets the other peer once that has
  /// what was relayed to it (phase resetting).
  void abort(socket_watch& failed, std::error_code why);
  void on_reset_drain(std::error_code ec);
  /// The relay is cut (kill, a signal, -T): a peer still owed bytes gets a
  /// reset instead of a FIN that would pass the cut stream off as complete.
  void reset_owed_peers();

  socket_watch& source(int dir) { return dir == 0 ? client_ : backend_; }
  socket_watch& sink(int dir) { return dir == 0 ? backend_ : client_; }

  asio::io_context& ctx_;
  phase phase_ = phase::connecting;
  socket_watch client_;
  socket_watch backend_;
  /// From accept() to close(); see the top of this file.
  std::shared_ptr<connection> self_;
  /// Only while connecting, or for -T: an idle connection has no timer.
  std::unique_ptr<timer_type> timer_;
  endpoint peer_;
  const relay_settings* settings_;
  slot_lease lease_;

  /// Only while a connect attempt is under way (an idle connection
  /// carries no handler).
  struct connect_attempt {
    connect_handler done;
    /// Tells this attempt's timeout from a stale one: a failed attempt's
    /// timer may have expired with its handler queued before the cancel.
    std::chrono::steady_clock::time_point deadline;
  };
  std::unique_ptr<connect_attempt> attempt_;

  /// Only for a client that sends a PROXY header (--accept-proxy): the
  /// handler while it is awaited, then the addresses it carried (which
  /// --send-proxy passes on).
  struct inbound_header {
    header_handler on_header;
    std::chrono::steady_clock::time_point deadline;
    std::optional<proxy_addresses> addresses;
  };
  std::unique_ptr<inbound_header> inbound_;

  relay_direction dirs_[2];
  std::chrono::steady_clock::time_point reset_deadline_; ///< resetting
  std::chrono::steady_clock::time_point last_activity_;  ///< -T
  bool sent_waiting_ = false; ///< bytes that had waited were sent (-T)
  int unacked_[2] = {0, 0};   ///< SIOCOUTQ of each socket at the last check

  friend class connection_registry;
  connection* prev_ = nullptr;
  connection* next_ = nullptr;
};

using connection_ptr = std::shared_ptr<connection>;

} // namespace balance::net
