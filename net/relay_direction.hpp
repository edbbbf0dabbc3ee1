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

class relay_direction {
public:
  /// Reads from `fd` into the buffer (or the pipe) until the socket is
  /// drained, EOF, an error or a full buffer. A short read counts as
  /// drained when `short_read_drains` (no FIN or error is known to be
  /// pending: one that arrives later raises a new edge). False: nothing
  /// there (drained at once). True: pending() bytes, and/or eof(), and/or
  /// error() with aborted(); drained() says whether the socket may still
  /// hold input. Only called with nothing pending.
  bool receive(int fd, bool short_read_drains);
  /// Sends the pending bytes to `fd`. False: the socket is full (EAGAIN),
  /// send the rest once it has room. True: all sent, or error() says why
  /// not.
  bool send(int fd);
  /// Gives back the buffer and the pipe (after EOF, on close, when idle).
  void release();

  /// Bytes move by recv/send only from now on: with -p (the dump needs
  /// the bytes) and after urgent data (splice stops for good at an urgent
  /// mark, recv steps over it).
  void never_splice() { may_splice_ = false; }
  /// In bulk mode: the next receive splices.
  bool splicing() const { return splicing_; }

  /// Received and not yet sent: in the buffer, or in the pipe.
  std::size_t pending_bytes() const { return piped_ + (end_ - begin_); }
  bool pending() const { return pending_bytes() > 0; }
  /// The pending bytes when they are in the buffer (nullptr when piped).
  const char* pending_data() {
    return piped_ > 0 ? nullptr : buf_.data() + begin_;
  }
  /// Whether the pending bytes wait in the pipe.
  bool piped() const { return piped_ > 0; }

  // -- what the last receive or send found -----------------------------------

  const std::error_code& error() const { return ec_; }
  /// The stream ended (after the pending bytes).
  bool eof() const { return eof_; }
  /// The source failed (after the pending bytes; error() says how).
  bool aborted() const { return aborted_; }
  /// The last receive emptied the socket.
  bool drained() const { return drained_; }

  // -- the direction's end ---------------------------------------------------

  /// Done: its EOF was forwarded, or its sink failed. Holds nothing more.
  void finish() {
    release();
    finished_ = true;
  }
  bool finished() const { return finished_; }

  /// This direction's source is the other direction's sink, and a send
  /// there failed with `why` (the send took the error with it): what the
  /// socket still holds is read and relayed, and its end counts as `why`.
  void source_failed(std::error_code why) {
    source_dead_ = true;
    source_failure_ = why;
  }
  bool source_dead() const { return source_dead_; }
  const std::error_code& source_failure() const { return source_failure_; }

private:
  bool copy_in(int fd, bool short_read_drains);
  bool splice_in(int fd);
  bool copy_out(int fd);
  bool splice_out(int fd);

  pooled_buffer buf_;
  uint32_t begin_ = 0; ///< pending: [begin_, end_) of buf_ ...
  uint32_t end_ = 0;
  pooled_pipe pipe_;
  uint32_t piped_ = 0; ///< ... or this many bytes in pipe_
  bool may_splice_ = true;
  bool splicing_ = false;
  std::error_code ec_;
  bool eof_ = false;
  bool aborted_ = false;
  bool drained_ = false;
  bool finished_ = false;
  bool source_dead_ = false;
  std::error_code source_failure_;
};

} // namespace balance::net
