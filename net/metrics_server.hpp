// --metrics-listen: the instance's counters in Prometheus' text format
// over HTTP, for a scraper to GET. `GET /metrics` answers 200 with the
// text, `HEAD /metrics` the same headers without it, any other request
// 404 (400 if it is not HTTP/1.x at all); every answer closes the
// connection. Read-only: it changes nothing and takes no secret.
//
// Bounded, since anyone who reaches the port may connect: at most
// `max_connections` at a time (at the cap the armed accept is withdrawn,
// so the next clients wait in the kernel's backlog), a request head of at
// most `max_request_bytes` within `request_deadline` of the accept (else
// closed without an answer), and the answer sent within
// `response_deadline`.
//
// It runs on a thread of its own with its own io_context, like the
// control gate: it blocks no io thread that relays and no actor. The text
// comes from a `metrics_source` (the daemon asks its control actor; see
// cli/metrics_scrape.cpp) that answers later, from any thread; concurrent
// scrapes share one request.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/endpoint.hpp"

namespace balance::net {

struct metrics_limits {
  std::size_t max_connections = 16;
  std::size_t max_request_bytes = 8 * 1024;
  std::chrono::milliseconds request_deadline{2000};
  std::chrono::milliseconds response_deadline{10000};
};

/// Called with the text, or nullopt when it is not available (the scraper
/// then gets 503). Must be called at most once; any thread.
using metrics_reply = std::function<void(std::optional<std::string>)>;
/// Asked for the text on the server's thread; must not block.
using metrics_source = std::function<void(metrics_reply)>;

class metrics_server {
public:
  explicit metrics_server(metrics_source source, metrics_limits limits = {});
  ~metrics_server();

  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// Binds and listens on `where` (port 0: any); the bound port, or
  /// nullopt with `error` set.
  std::optional<uint16_t> listen(const endpoint& where, std::string& error);
  /// Takes over a socket already listening (an upgrade hands the old
  /// process's to the new one: the port is never closed, no scrape fails).
  bool adopt(int fd, std::string& error);
  /// A duplicate (close-on-exec) of the listening socket, for an upgrade
  /// to pass on; -1 when there is none. Thread-safe.
  int duplicate_listener();

  /// Starts the server's thread.
  void start();
  /// Closes the listener and every connection and joins the thread.
  void stop();

  /// Connections accepted and not yet closed (for tests).
  std::size_t open_connections() const;

  struct impl; ///< in the .cpp (public for its helper class there)

private:
  std::shared_ptr<impl> impl_;
};

} // namespace balance::net
