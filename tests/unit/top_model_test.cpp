// balance top's model: rates from two samples, a reset counter, sorting,
// the change column, the screen's scrolling and the number formats.
#include <catch2/catch.hpp>

#include "cli/top_model.hpp"

using namespace balance;
using namespace balance::cli;

namespace {

auto t0 = top_clock::time_point{} + std::chrono::hours(5);

channel_status row(uint32_t index, uint64_t total, uint64_t sent,
                   uint64_t rcvd, channel_state state = channel_state::enabled) {
  channel_status ch;
  ch.index = index;
  ch.address = "10.0.0." + std::to_string(index + 1);
  ch.port = 80;
  ch.total = total;
  ch.sent = sent;
  ch.rcvd = rcvd;
  ch.state = state;
  return ch;
}

top_sample sample(std::vector<channel_status> rows, top_clock::time_point at,
                  std::string label = "port 8888") {
  top_sample s;
  s.label = std::move(label);
  s.snap = snapshot{};
  s.snap->version = "4.0";
  s.snap->channels = std::move(rows);
  s.at = at;
  return s;
}

} // namespace

TEST_CASE("top computes rates from the difference of two samples", "[top]") {
  top_model m;
  m.update({sample({row(0, 100, 1000, 5000), row(1, 7, 0, 0)}, t0)});
  CHECK(m.rows()[0].conn_rate == 0); // nothing to compare with yet
  m.update({sample({row(0, 120, 3000, 25000), row(1, 7, 0, 0)},
                   t0 + std::chrono::seconds(2))});
  REQUIRE(m.rows().size() == 2);
  CHECK(m.rows()[0].conn_rate == Approx(10));
  CHECK(m.rows()[0].in_rate == Approx(1000));
  CHECK(m.rows()[0].out_rate == Approx(10000));
  CHECK(m.rows()[1].conn_rate == 0);
}

TEST_CASE("top shows no rate for a counter that was reset", "[top]") {
  top_model m;
  m.update({sample({row(0, 100, 1000, 5000)}, t0)});
  m.update({sample({row(0, 3, 10, 20)}, t0 + std::chrono::seconds(1))});
  CHECK(m.rows()[0].conn_rate == 0);
  CHECK(m.rows()[0].out_rate == 0);
}

TEST_CASE("top sorts by the chosen column and keeps instances apart", "[top]") {
  top_model m;
  m.update({sample({row(0, 0, 0, 0), row(1, 0, 0, 0)}, t0)});
  m.update({sample({row(0, 5, 0, 0), row(1, 50, 0, 0)},
                   t0 + std::chrono::seconds(1))});
  CHECK(m.rows()[0].index == 0);
  m.cycle_sort(); // conn/s
  CHECK(m.sort() == top_sort::conn_rate);
  CHECK(m.rows()[0].index == 1);
  for (int i = 0; i < 5; ++i)
    m.cycle_sort();
  CHECK(m.sort() == top_sort::channel);
  CHECK(m.rows()[0].index == 0);
}

TEST_CASE("top notes when a channel's state changed", "[top]") {
  top_model m;
  m.update({sample({row(0, 0, 0, 0)}, t0)});
  CHECK_FALSE(m.rows()[0].since_change);
  m.update({sample({row(0, 0, 0, 0, channel_state::disabled)},
                   t0 + std::chrono::seconds(1))});
  REQUIRE(m.rows()[0].since_change);
  CHECK(*m.rows()[0].since_change == 0);
  m.update({sample({row(0, 0, 0, 0, channel_state::disabled)},
                   t0 + std::chrono::seconds(31))});
  CHECK(*m.rows()[0].since_change == 30);
  CHECK_FALSE(m.rows()[0].enabled);
}

TEST_CASE("top takes the health age from the daemon when checked", "[top]") {
  top_model m;
  auto s = sample({row(0, 0, 0, 0)}, t0);
  health_row h;
  h.state = health_state::down;
  h.seconds_since_change = 42;
  s.health = std::vector<health_row>{h};
  m.update({s});
  CHECK(m.rows()[0].health == "down");
  CHECK(*m.rows()[0].since_change == 42);
}

TEST_CASE("top's screen scrolls to the selected row and ends in the status", "[top]") {
  top_model m;
  std::vector<channel_status> rows;
  for (uint32_t i = 0; i < 30; ++i)
    rows.push_back(row(i, 0, 0, 0));
  m.update({sample(rows, t0)});
  auto screen = m.render_screen(100, 12, 25, "status here");
  REQUIRE(screen.size() == 12);
  CHECK(screen.back() == "status here");
  bool marked = false;
  for (auto& line : screen) {
    CHECK(line.size() <= 100);
    if (line.rfind("> ", 0) == 0) {
      marked = true;
      CHECK(line.find("10.0.0.26:80") != std::string::npos);
    }
  }
  CHECK(marked);
}

TEST_CASE("top's text lists a lost instance and totals a fleet", "[top]") {
  top_model m;
  top_sample lost;
  lost.label = "10.1.1.1:9000";
  lost.error = "connection refused";
  m.update({sample({row(0, 4, 0, 0)}, t0, "10.1.1.2:9000"), lost});
  auto text = m.render_text();
  CHECK(text.find("balance top: 2 instances") != std::string::npos);
  CHECK(text.find("10.1.1.1:9000: lost (connection refused), retrying")
        != std::string::npos);
  CHECK(text.find("\ntotal ") != std::string::npos);
}

TEST_CASE("top formats rates and ages for people", "[top]") {
  CHECK(human_rate(950) == "950");
  CHECK(human_rate(12345) == "12.3K");
  CHECK(human_rate(4500000) == "4.50M");
  CHECK(human_rate(250e9) == "250G");
  CHECK(human_age(45) == "45s");
  CHECK(human_age(720) == "12m");
  CHECK(human_age(3 * 3600) == "3h");
  CHECK(human_age(2 * 86400) == "2d");
}
