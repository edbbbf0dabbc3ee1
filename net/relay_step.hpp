// One direction of a connection's relay: the bytes in flight and the I/O
// that moves them. The connection runs it when its socket_watch says the
// source has input or the sink has room again.
#pragma once

#include <cstdint>
#include <system_error>

#include "net/buffer_pool.hpp"

namespace balance::net {

class relay_step {
public:
  /// Reads from `fd` into `buf` until the socket is drained, EOF, an error
  /// or a full buffer. A short read counts as drained when
  /// `short_read_drains` (no FIN or error is known to be pending: one that
  /// arrives later raises a new edge). False: nothing there (drained at
  /// once). True: bytes in [0, end), and/or `eof`, and/or `ec` with
  /// `aborted`; `drained` says whether the socket may still hold input.
  bool receive(int fd, bool short_read_drains);
  /// Sends [begin, end) to `fd`. False: the socket is full (EAGAIN), send
  /// the rest once it has room. True: all sent, or `ec` says why not.
  bool send(int fd);
  /// Whether a non-blocking connect on `fd` finished: false while it runs,
  /// true once established or failed (`ec`).
  bool connected(int fd);

  /// The bytes received and not yet sent: [begin, end) of `buf`.
  pooled_buffer buf;
  uint32_t begin = 0;
  uint32_t end = 0;
  std::error_code ec;
  bool eof = false;      ///< the stream ended (after the bytes in `buf`)
  bool aborted = false;  ///< the source failed (after the bytes in `buf`)
  bool drained = false;  ///< the last receive emptied the socket
  bool finished = false; ///< this direction is done (EOF forwarded)

  bool pending() const { return begin < end; }
};

} // namespace balance::net
