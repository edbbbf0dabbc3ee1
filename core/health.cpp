#include "core/health.hpp"

namespace balance {

channel_health channel_health::initial(const health_rules& rules,
                                       health_clock::time_point now) {
  channel_health h;
  h.state = rules.checked() ? health_state::up : health_state::unchecked;
  h.changed = now;
  return h;
}

void channel_health::become(health_state next, health_clock::time_point now) {
  state = next;
  changed = now;
}

bool channel_health::on_check(bool passed, check_error why,
                              const health_rules& rules,
                              health_clock::time_point now) {
  if (state == health_state::unchecked)
    return false;
  if (passed) {
    ++successes;
    failures = 0;
    if (state == health_state::down && successes >= rules.rise) {
      become(health_state::up, now);
      return true;
    }
    return false;
  }
  ++failures;
  successes = 0;
  last_error = why;
  if (state == health_state::up && failures >= rules.fall) {
    become(health_state::down, now);
    return true;
  }
  return false;
}

bool channel_health::on_observed(uint32_t consecutive, check_error why,
                                 const health_rules& rules,
                                 health_clock::time_point now) {
  if (!rules.observe || state != health_state::up || consecutive < rules.fall)
    return false;
  last_error = why;
  successes = 0;
  become(health_state::down, now);
  return true;
}

bool channel_health::on_enable(const health_rules& rules,
                               health_clock::time_point now) {
  if (rules.active || state != health_state::down)
    return false;
  failures = 0;
  become(health_state::up, now);
  return true;
}

} // namespace balance
