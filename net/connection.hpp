// One proxied connection on one io_context: the connect to a channel (with
// timeout and outgoing bind) and then the relay. Both directions run
// independently; EOF on one side becomes shutdown(SHUT_WR) on the other
// (half-close); the connection ends when both are done or on an error.
// A buffer is held only while bytes are in flight (wait, then read).
//
//   client --dir 0--> backend      dir d: wait readable(src) -> recv ->
//   client <--dir 1-- backend             send(dst) [-> wait writable(dst)]
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include <asio/basic_stream_socket.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "net/buffer_pool.hpp"
#include "net/endpoint.hpp"
#include "net/traffic.hpp"

namespace balance::net {

class packet_dump;
class connection_registry;

using socket_type =
  asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
using timer_type =
  asio::basic_waitable_timer<std::chrono::steady_clock,
                             asio::wait_traits<std::chrono::steady_clock>,
                             asio::io_context::executor_type>;

/// What every connection of an instance shares (read-only once running).
struct relay_settings {
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds idle_timeout{0}; ///< 0 = never
  std::optional<endpoint> out_bind;     ///< -B
  packet_dump* dump = nullptr;          ///< -p
  connection_registry* registry = nullptr; ///< every live connection
};

/// Gives a granted channel slot back exactly once: `failed` for a failed
/// connect, otherwise when the proxied connection ends. Destroying an
/// unfired guard releases (so no path can leak a slot).
class release_guard {
public:
  using fn_type = std::function<void(bool failed)>;
  release_guard() = default;
  explicit release_guard(fn_type fn) : fn_(std::move(fn)) {}
  release_guard(release_guard&&) noexcept = default;
  release_guard& operator=(release_guard&& other) noexcept {
    fire(false);
    fn_ = std::move(other.fn_);
    other.fn_ = nullptr;
    return *this;
  }
  ~release_guard() { fire(false); }
  void fire(bool failed) {
    if (fn_) {
      auto fn = std::move(fn_);
      fn_ = nullptr;
      fn(failed);
    }
  }

private:
  fn_type fn_;
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

  /// `settings` (and its registry) outlive every connection.
  connection(socket_type client, const endpoint& peer,
             const relay_settings& settings);
  ~connection();

  const endpoint& peer() const { return peer_; }
  asio::io_context::executor_type executor() { return client_.get_executor(); }

  // -- called on this connection's io thread only ---------------------------

  /// Connects to `target`; on success the relay starts and owns `guard`,
  /// on failure the guard fires as failed. `done(result)` runs afterwards
  /// (`aborted`: the connection was closed meanwhile, stop trying).
  void do_connect(const endpoint& target, release_guard guard,
                  traffic_ptr traffic, connect_handler done);
  /// Aborts both sides (kill, no channel left for the client).
  void close();

private:
  // 16 bytes: an idle connection is mostly this object and Asio's state.
  struct direction {
    pooled_buffer buf;
    uint32_t begin : 31;
    uint32_t done : 1;
    uint32_t end = 0;
    direction() : begin(0), done(0) {}
  };

  void on_connect(std::error_code ec, const connect_handler& done);
  void on_connect_timer(std::error_code ec);
  void do_watch_client();
  void start_relay();
  void pump(int dir);
  void do_wait(int dir, bool readable);
  void on_eof(int dir);
  void account(int dir, const char* data, std::size_t n);
  timer_type& timer();
  void do_idle_check();
  void on_idle_check(std::error_code ec);

  socket_type& source(int dir) { return dir == 0 ? client_ : backend_; }
  socket_type& sink(int dir) { return dir == 0 ? backend_ : client_; }

  socket_type client_;
  socket_type backend_;
  /// Only while connecting, or for -T: an idle connection has no timer.
  std::unique_ptr<timer_type> timer_;
  endpoint peer_;
  const relay_settings* settings_;
  release_guard guard_;
  traffic_ptr traffic_;
  direction dirs_[2];
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point connect_deadline_;
  bool connecting_ = false;
  bool client_watched_ = false;
  bool closed_ = false;

  friend class connection_registry;
  connection* prev_ = nullptr;
  connection* next_ = nullptr;
};

using connection_ptr = std::shared_ptr<connection>;

} // namespace balance::net
