#include "cli/terminal.hpp"

#include <cerrno>
#include <csignal>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace balance::cli {

namespace {

volatile std::sig_atomic_t stop_signal = 0;
volatile std::sig_atomic_t resized = 0;

void on_stop_signal(int sig) {
  stop_signal = sig;
}
void on_resize(int) {
  resized = 1;
}

void write_all(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += static_cast<std::size_t>(n);
  }
}

// Without SA_RESTART: a signal ends the poll() in read_key at once.
void handle(int sig, void (*fn)(int)) {
  struct sigaction sa {};
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
}

} // namespace

terminal::terminal() {
  if (::tcgetattr(STDIN_FILENO, &saved_) != 0)
    return;
  auto raw = saved_;
  // No line editing and no echo; ^C still raises SIGINT, handled below.
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
  active_ = true;
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    handle(sig, on_stop_signal);
  handle(SIGWINCH, on_resize);
  // The alternate screen, cursor hidden.
  write_all("\x1b[?1049h\x1b[?25l");
}

terminal::~terminal() {
  restore();
}

void terminal::restore() {
  if (!active_)
    return;
  active_ = false;
  write_all("\x1b[?25h\x1b[?1049l");
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
}

std::pair<std::size_t, std::size_t> terminal::size() const {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
    return {80, 24};
  return {ws.ws_col, ws.ws_row};
}

void terminal::draw(const std::vector<std::string>& lines) {
  std::string out = "\x1b[H";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    out += "\x1b[K"; // the rest of the line
    if (i + 1 < lines.size())
      out += "\r\n";
  }
  out += "\x1b[J"; // and below
  write_all(out);
}

int terminal::read_key(std::chrono::milliseconds timeout) {
  if (stop_signal)
    return key_signal;
  if (resized) {
    resized = 0;
    return key_resize;
  }
  pollfd p{STDIN_FILENO, POLLIN, 0};
  int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (n < 0)
    return stop_signal ? key_signal : resized ? (resized = 0, key_resize)
                                              : key_none;
  if (n == 0)
    return key_none;
  if (p.revents & (POLLHUP | POLLERR))
    return key_signal; // the terminal is gone
  unsigned char c = 0;
  if (::read(STDIN_FILENO, &c, 1) != 1)
    return key_signal;
  if (c != 0x1b)
    return c;
  // An arrow is ESC [ A (or ESC O A): the rest follows at once.
  unsigned char seq[2] = {0, 0};
  pollfd more{STDIN_FILENO, POLLIN, 0};
  if (::poll(&more, 1, 30) <= 0 || ::read(STDIN_FILENO, &seq[0], 1) != 1)
    return 0x1b;
  if (::poll(&more, 1, 30) <= 0 || ::read(STDIN_FILENO, &seq[1], 1) != 1)
    return 0x1b;
  if (seq[0] == '[' || seq[0] == 'O') {
    if (seq[1] == 'A')
      return key_up;
    if (seq[1] == 'B')
      return key_down;
  }
  return 0x1b;
}

} // namespace balance::cli
