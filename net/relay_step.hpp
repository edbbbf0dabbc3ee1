// One direction of a connection's relay: the bytes in flight and the I/O
// that moves them. The connection runs it when its socket_watch says the
// source has input or the sink has room again.
//
// Bytes move by recv/send through a pooled buffer. Once a receive fills a
// whole buffer (a bulk transfer) and splicing is allowed, they move by
// splice() through a pooled pipe instead: the kernel hands the pages on
// and the two copies through user space are gone. A direction drops back
// to copying when its messages are small again.
#pragma once

#include <cstdint>
#include <system_error>

#include "net/buffer_pool.hpp"
#include "net/pipe_pool.hpp"

namespace balance::net {

class relay_step {
public:
  /// Reads from `fd` into `buf` (or the pipe) until the socket is drained,
  /// EOF, an error or a full buffer. A short read counts as drained when
  /// `short_read_drains` (no FIN or error is known to be pending: one that
  /// arrives later raises a new edge). False: nothing there (drained at
  /// once). True: pending() bytes, and/or `eof`, and/or `ec` with
  /// `aborted`; `drained` says whether the socket may still hold input.
  /// Only called with nothing pending.
  bool receive(int fd, bool short_read_drains);
  /// Sends the pending bytes to `fd`. False: the socket is full (EAGAIN),
  /// send the rest once it has room. True: all sent, or `ec` says why not.
  bool send(int fd);
  /// Whether a non-blocking connect on `fd` finished: false while it runs,
  /// true once established or failed (`ec`).
  bool connected(int fd);
  /// Gives back the buffer and the pipe (after EOF, on close, when idle).
  void release();

  /// Received and not yet sent: [begin, end) of `buf`, or `piped` bytes.
  std::size_t pending_bytes() const { return piped + (end - begin); }
  bool pending() const { return pending_bytes() > 0; }
  /// The pending bytes when they are in the buffer (nullptr when piped).
  const char* pending_data() {
    return piped > 0 ? nullptr : buf.data() + begin;
  }

  pooled_buffer buf;
  uint32_t begin = 0;
  uint32_t end = 0;
  pooled_pipe pipe;
  uint32_t piped = 0;     ///< bytes waiting in `pipe`
  bool may_splice = true; ///< off with -p (the dump needs the bytes)
  bool splicing = false;  ///< in bulk mode
  std::error_code ec;
  bool eof = false;      ///< the stream ended (after the pending bytes)
  bool aborted = false;  ///< the source failed (after the pending bytes)
  bool drained = false;  ///< the last receive emptied the socket
  bool finished = false; ///< this direction is done (EOF forwarded)

private:
  bool copy_in(int fd, bool short_read_drains);
  bool splice_in(int fd);
  bool copy_out(int fd);
  bool splice_out(int fd);
};

} // namespace balance::net
