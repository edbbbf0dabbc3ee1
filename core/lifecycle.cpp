#include "core/lifecycle.hpp"

namespace balance {

std::string to_string(lifecycle_phase x) {
  switch (x) {
    case lifecycle_phase::serving: return "serving";
    case lifecycle_phase::upgrading: return "upgrading";
    case lifecycle_phase::draining: return "draining";
  }
  return "lifecycle_phase(" + std::to_string(static_cast<uint32_t>(x)) + ")";
}

bool from_integer(std::underlying_type_t<lifecycle_phase> in,
                  lifecycle_phase& out) {
  auto x = static_cast<lifecycle_phase>(in);
  switch (x) {
    case lifecycle_phase::serving:
    case lifecycle_phase::upgrading:
    case lifecycle_phase::draining: out = x; return true;
  }
  return false;
}

std::string to_string(lifecycle_reply x) {
  switch (x) {
    case lifecycle_reply::ok: return "ok";
    case lifecycle_reply::already: return "already";
    case lifecycle_reply::busy: return "busy";
    case lifecycle_reply::failed: return "failed";
    case lifecycle_reply::draining: return "draining";
  }
  return "lifecycle_reply(" + std::to_string(static_cast<int32_t>(x)) + ")";
}

bool from_integer(std::underlying_type_t<lifecycle_reply> in,
                  lifecycle_reply& out) {
  auto x = static_cast<lifecycle_reply>(in);
  switch (x) {
    case lifecycle_reply::ok:
    case lifecycle_reply::already:
    case lifecycle_reply::busy:
    case lifecycle_reply::failed:
    case lifecycle_reply::draining: out = x; return true;
  }
  return false;
}

bool lifecycle::begin_upgrade() {
  auto expected = lifecycle_phase::serving;
  return phase_.compare_exchange_strong(expected, lifecycle_phase::upgrading);
}

void lifecycle::abort_upgrade() {
  auto expected = lifecycle_phase::upgrading;
  phase_.compare_exchange_strong(expected, lifecycle_phase::serving);
}

void lifecycle::hand_over(int32_t successor_pid) {
  successor_.store(successor_pid);
}

bool lifecycle::begin_drain(std::chrono::seconds timeout) {
  // The deadline first: whoever sees `draining` also sees when it ends.
  auto deadline = timeout.count() > 0 ? (clock::now() + timeout)
                                          .time_since_epoch()
                                          .count()
                                      : clock::rep{0};
  for (auto now = phase_.load();;) {
    if (now == lifecycle_phase::draining)
      return false;
    // An upgrade in flight drains only once it handed over (a failed one
    // goes back to serving and may drain then).
    if (now == lifecycle_phase::upgrading && !handed_over())
      return false;
    deadline_.store(deadline);
    if (phase_.compare_exchange_weak(now, lifecycle_phase::draining))
      return true;
  }
}

bool lifecycle::drain_expired(clock::time_point now) const {
  auto deadline = deadline_.load();
  return draining() && deadline != 0
         && now.time_since_epoch().count() >= deadline;
}

lifecycle_status lifecycle::status(clock::time_point now) const {
  lifecycle_status st;
  st.phase = phase();
  st.successor_pid = successor();
  auto deadline = deadline_.load();
  if (st.phase == lifecycle_phase::draining && deadline != 0) {
    auto left = clock::time_point(clock::duration(deadline)) - now;
    // Rounded up: "1 s left" until it is over.
    auto secs = std::chrono::ceil<std::chrono::seconds>(left).count();
    st.drain_seconds_left = secs > 0 ? static_cast<uint64_t>(secs) : 0;
  }
  return st;
}

} // namespace balance
