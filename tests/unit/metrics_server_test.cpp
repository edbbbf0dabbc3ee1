// Over 300 lines: one case per answer and per bound of the endpoint.
// The HTTP metrics endpoint (net/metrics_server.hpp) on loopback, with a
// stand-in for the control actor: the answers, the bounds (connections,
// head size, deadlines), and one request to the source per batch of
// concurrent scrapes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "net/metrics_server.hpp"

using namespace balance;
using namespace balance::net;
using namespace std::chrono_literals;

namespace {

const std::string text = "# TYPE up gauge\nup 1\n";

/// A source that answers at once with `text` and counts the asks.
struct instant_source {
  std::atomic<int> asked{0};
  metrics_source source() {
    return [this](metrics_reply reply) {
      ++asked;
      reply(text);
    };
  }
};

/// A source that keeps the replies until the test releases them.
struct held_source {
  std::mutex mutex;
  std::vector<metrics_reply> replies;
  metrics_source source() {
    return [this](metrics_reply reply) {
      std::lock_guard<std::mutex> guard{mutex};
      replies.push_back(std::move(reply));
    };
  }
  std::size_t asked() {
    std::lock_guard<std::mutex> guard{mutex};
    return replies.size();
  }
  void answer_all(std::optional<std::string> with) {
    std::vector<metrics_reply> now;
    {
      std::lock_guard<std::mutex> guard{mutex};
      now.swap(replies);
    }
    for (auto& r : now)
      r(with);
  }
};

struct running_server {
  metrics_server server;
  uint16_t port = 0;
  running_server(metrics_source source, metrics_limits limits = {})
    : server(std::move(source), limits) {
    std::string error;
    auto ep = parse_numeric_address("127.0.0.1");
    auto p = server.listen(*ep, error);
    INFO(error);
    REQUIRE(p);
    port = *p;
    server.start();
  }
};

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

void send_all(int fd, const std::string& data) {
  REQUIRE(::send(fd, data.data(), data.size(), MSG_NOSIGNAL)
          == static_cast<ssize_t>(data.size()));
}

/// Everything until EOF (or a reset), within `limit`; `closed` says
/// whether the server closed (false: the limit came first).
std::string read_all(int fd, std::chrono::milliseconds limit,
                     bool* closed = nullptr) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0
        || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      if (closed)
        *closed = false;
      return out;
    }
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (closed)
        *closed = true;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string http_exchange(uint16_t port, const std::string& request) {
  int fd = dial(port);
  send_all(fd, request);
  bool closed = false;
  auto out = read_all(fd, 5s, &closed);
  ::close(fd);
  CHECK(closed); // every answer ends the connection
  return out;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

} // namespace

TEST_CASE("GET /metrics answers 200 with the text and its length",
          "[metrics]") {
  instant_source src;
  running_server s(src.source());
  auto out = http_exchange(s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(out
        == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
           "Content-Length: "
             + std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n"
             + text);
  auto old = http_exchange(s.port, "GET /metrics HTTP/1.0\r\n\r\n");
  CHECK(old.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(src.asked == 2);
}

TEST_CASE("HEAD /metrics answers the same headers without the text",
          "[metrics]") {
  instant_source src;
  running_server s(src.source());
  auto out = http_exchange(s.port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  CHECK(out
        == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
           "Content-Length: "
             + std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n");
}

TEST_CASE("any other request is 404, and what is not HTTP 400", "[metrics]") {
  instant_source src;
  running_server s(src.source());
  for (std::string req : {"GET / HTTP/1.1\r\n\r\n",
                          "POST /metrics HTTP/1.1\r\n"
                          "Content-Length: 0\r\n\r\n",
                          "GET /metricsx HTTP/1.0\r\n\r\n"}) {
    CAPTURE(req);
    CHECK(http_exchange(s.port, req).find(" 404 Not Found\r\n")
          != std::string::npos);
  }
  CHECK(http_exchange(s.port, "hello there\r\n\r\n")
          .rfind("HTTP/1.1 400 Bad Request\r\n", 0)
        == 0);
  CHECK(src.asked == 0);
}

TEST_CASE("a source without metrics gives 503", "[metrics]") {
  running_server s([](metrics_reply reply) { reply(std::nullopt); });
  CHECK(http_exchange(s.port, "GET /metrics HTTP/1.1\r\n\r\n")
          .rfind("HTTP/1.1 503 Service Unavailable\r\n", 0)
        == 0);
}

TEST_CASE("a request head over the limit is closed without an answer",
          "[metrics]") {
  instant_source src;
  metrics_limits limits;
  limits.max_request_bytes = 1024;
  running_server s(src.source(), limits);
  int fd = dial(s.port);
  send_all(fd, "GET /metrics HTTP/1.1\r\nX: " + std::string(1100, 'a'));
  bool closed = false;
  auto out = read_all(fd, 5s, &closed);
  ::close(fd);
  CHECK(closed);
  CHECK(out.empty());
  // Exactly at the limit is still a request.
  std::string req = "GET /metrics HTTP/1.1\r\nX: ";
  req += std::string(1024 - req.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(req.size() == 1024);
  CHECK(http_exchange(s.port, req).rfind("HTTP/1.1 200 OK", 0) == 0);
}

TEST_CASE("a request head not sent in time is closed without an answer",
          "[metrics]") {
  instant_source src;
  metrics_limits limits;
  limits.request_deadline = 300ms;
  running_server s(src.source(), limits);
  int fd = dial(s.port);
  send_all(fd, "GET /metrics HTTP/1.1\r\n");
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  auto out = read_all(fd, 5s, &closed);
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  CHECK(closed);
  CHECK(out.empty());
  CHECK(took >= 250ms);
  CHECK(src.asked == 0);
}

TEST_CASE("at the connection cap the next clients wait, then are served",
          "[metrics]") {
  instant_source src;
  metrics_limits limits;
  limits.max_connections = 2;
  limits.request_deadline = 500ms;
  running_server s(src.source(), limits);
  // Two idle clients take both slots; five more wait in the backlog.
  std::vector<int> idle;
  for (int i = 0; i < 7; ++i)
    idle.push_back(dial(s.port));
  CHECK(eventually([&] { return s.server.open_connections() == 2; }));
  std::this_thread::sleep_for(100ms);
  CHECK(s.server.open_connections() == 2);
  // A scraper behind them is served once the idle ones time out.
  auto start = std::chrono::steady_clock::now();
  auto out = http_exchange(s.port, "GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(out.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  for (int fd : idle) {
    bool closed = false;
    read_all(fd, 5s, &closed);
    CHECK(closed);
    ::close(fd);
  }
}

TEST_CASE("concurrent scrapes share one request to the source", "[metrics]") {
  held_source src;
  running_server s(src.source());
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(dial(s.port));
    send_all(fds.back(), "GET /metrics HTTP/1.1\r\n\r\n");
  }
  REQUIRE(eventually([&] { return src.asked() == 1; }));
  std::this_thread::sleep_for(100ms); // the other two have joined it
  CHECK(src.asked() == 1);
  src.answer_all(text);
  for (int fd : fds) {
    bool closed = false;
    auto out = read_all(fd, 5s, &closed);
    ::close(fd);
    CHECK(closed);
    CHECK(out.find("\r\n\r\n" + text) != std::string::npos);
  }
  // The next scrape asks again: nothing is cached.
  int fd = dial(s.port);
  send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
  REQUIRE(eventually([&] { return src.asked() == 1; }));
  src.answer_all(text);
  CHECK(read_all(fd, 5s).rfind("HTTP/1.1 200 OK", 0) == 0);
  ::close(fd);
}

TEST_CASE("a source that never answers costs a scraper the response deadline",
          "[metrics]") {
  held_source src;
  metrics_limits limits;
  limits.response_deadline = 300ms;
  running_server s(src.source(), limits);
  int fd = dial(s.port);
  send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
  bool closed = false;
  CHECK(read_all(fd, 5s, &closed).empty());
  CHECK(closed);
  ::close(fd);
  // Given up on: the next scrape asks the source again.
  int next = dial(s.port);
  send_all(next, "GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(eventually([&] { return src.asked() == 2; }));
  src.answer_all(text);
  CHECK(read_all(next, 5s).rfind("HTTP/1.1 200 OK", 0) == 0);
  ::close(next);
}

TEST_CASE("a reply that comes after the server stopped is harmless",
          "[metrics]") {
  held_source src;
  {
    running_server s(src.source());
    int fd = dial(s.port);
    send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    REQUIRE(eventually([&] { return src.asked() == 1; }));
    s.server.stop();
    ::close(fd);
  }
  src.answer_all(text); // the server is gone: nothing to post to
}
