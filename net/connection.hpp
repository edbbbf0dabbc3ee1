// One proxied connection on one io_context: the connect to a channel (with
// timeout and outgoing bind) and then the relay. Both directions run
// independently; EOF on one side becomes shutdown(SHUT_WR) on the other
// (half-close); the connection ends when both are done or on an error.
// A buffer is held only while bytes are in flight (see relay_step).
//
//   client --dir 0--> backend      dir d: receive(src) -> send(dst), run
//   client <--dir 1-- backend             again by the sockets' events
//
// A connection keeps itself alive from accept() to close(): its sockets
// are in the epoll set, and events collected before close() may still be
// queued, so it lets go of itself only in a handler posted by close().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include <asio/io_context.hpp>

#include "core/endpoint.hpp"
#include "core/group_policy.hpp"
#include "net/relay_step.hpp"
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
};

class connection;

/// Every live connection of the instance, so `kill` can close them.
class connection_registry {
public:
  void add(connection* c);
  void remove(connection* c);
  /// Posts close() to every live connection; returns how many.
  std::size_t close_all();
  std::size_t size();

private:
  std::mutex mtx_;
  connection* head_ = nullptr;
  std::size_t count_ = 0;
};

enum class connect_result { connected, failed, aborted };

class connection : public std::enable_shared_from_this<connection> {
public:
  using connect_handler = std::function<void(connect_result)>;

  /// Takes the accepted, non-blocking `client_fd` (closed on failure, and
  /// the connection is then closed too), on `ctx`'s thread. `settings`
  /// (and its registry) outlive every connection.
  static std::shared_ptr<connection> accept(asio::io_context& ctx,
                                            int client_fd, const endpoint& peer,
                                            const relay_settings& settings);
  connection(asio::io_context& ctx, const endpoint& peer,
             const relay_settings& settings);
  ~connection();

  const endpoint& peer() const { return peer_; }
  asio::io_context::executor_type executor() { return ctx_.get_executor(); }

  // -- called on this connection's io thread only ---------------------------

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

private:
  static void on_events(void* self, socket_watch& side);
  void on_connect(std::error_code ec, bool channel_at_fault = true);
  void report_local_failure(const endpoint& target, const char* step,
                            std::error_code ec);
  void do_connect_timer();
  void on_connect_timer(std::error_code ec);
  void on_client_while_connecting();
  void start_relay();
  void do_relay(int dir);
  void on_eof(int dir);
  void on_sink_failed(int dir, std::error_code ec);
  /// A socket failed: closes it, and resets the other peer once that has
  /// what was relayed to it.
  void abort(socket_watch& failed, std::error_code why);
  void on_abort_drain(std::error_code ec);
  void account(int dir, const char* data, std::size_t n);
  timer_type& timer();
  void do_idle_check();
  void on_idle_check(std::error_code ec);
  /// Whether bytes moved since the last idle check that no receive timed:
  /// sends of bytes that had waited, or acknowledgements from a peer.
  bool moved_unclocked();
  /// The relay is cut (kill, a signal, -T): a peer still owed bytes gets a
  /// reset instead of a FIN that would pass the cut stream off as complete.
  void reset_owed_peers();

  socket_watch& source(int dir) { return dir == 0 ? client_ : backend_; }
  socket_watch& sink(int dir) { return dir == 0 ? backend_ : client_; }

  asio::io_context& ctx_;
  socket_watch client_;
  socket_watch backend_;
  /// From accept() to close(); see the top of this file.
  std::shared_ptr<connection> self_;
  /// Only while connecting, or for -T: an idle connection has no timer.
  std::unique_ptr<timer_type> timer_;
  endpoint peer_;
  const relay_settings* settings_;
  slot_lease lease_;
  /// Only while connecting (an idle connection carries no handler).
  struct connect_state {
    connect_handler done;
    /// Tells this attempt's timeout from a stale one: a failed attempt's
    /// timer may have expired with its handler queued before the cancel.
    std::chrono::steady_clock::time_point deadline;
  };
  std::unique_ptr<connect_state> connecting_;
  relay_step dirs_[2]; ///< dirs_[1] also checks the connect
  bool relaying_ = false;
  socket_watch* failed_ = nullptr; ///< a send found its peer gone
  std::error_code failure_;
  std::chrono::steady_clock::time_point aborting_deadline_;
  std::chrono::steady_clock::time_point last_activity_;
  bool sent_waiting_ = false; ///< bytes that had waited were sent (-T)
  int unacked_[2] = {0, 0};   ///< SIOCOUTQ of each socket at the last check
  bool closed_ = false;

  friend class connection_registry;
  connection* prev_ = nullptr;
  connection* next_ = nullptr;
};

using connection_ptr = std::shared_ptr<connection>;

} // namespace balance::net
