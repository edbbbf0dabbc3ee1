// The full-screen terminal `balance top` draws on, in plain ANSI (every
// terminal an operator uses understands it; no curses needed for one
// table): raw input without echo, the alternate screen, keys with a
// timeout, and the terminal given back on every way out (q, ^C, SIGTERM,
// SIGHUP, an error: the destructor, and restore() before an exit).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <termios.h>

namespace balance::cli {

enum key : int {
  key_none = -1,    ///< the timeout passed
  key_signal = -2,  ///< SIGINT, SIGTERM or SIGHUP: leave
  key_resize = -3,  ///< SIGWINCH: draw again
  key_up = 1001,
  key_down = 1002,
};

class terminal {
public:
  /// Takes over stdin and stdout (both must be terminals).
  terminal();
  ~terminal();
  terminal(const terminal&) = delete;
  terminal& operator=(const terminal&) = delete;

  /// Gives the terminal back as it was (idempotent).
  void restore();
  /// Columns and rows.
  std::pair<std::size_t, std::size_t> size() const;
  /// Replaces the screen with `lines`.
  void draw(const std::vector<std::string>& lines);
  /// The next key, waiting at most `timeout`: a character, key_up or
  /// key_down for the arrows, or one of the negative values.
  int read_key(std::chrono::milliseconds timeout);

private:
  termios saved_{};
  bool active_ = false;
};

} // namespace balance::cli
