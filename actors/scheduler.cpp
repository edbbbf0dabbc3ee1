#include "actors/scheduler.hpp"

#include <string>
#include <utility>
#include <vector>

#include "log/log.hpp"

namespace balance {

namespace {

check_error error_from(uint8_t raw) {
  check_error why = check_error::failed;
  from_integer(raw, why);
  return why;
}

std::string plural(uint32_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

} // namespace

void scheduler_state::on_health_changed(uint32_t index,
                                        const std::string& because) {
  publish();
  report_health_change(index, because);
}

void scheduler_state::report_health_change(uint32_t index,
                                           const std::string& because) {
  auto& ch = policy.channels()[index];
  bool down = ch.health.down();
  log::notice("channel " + std::to_string(index) + " of group "
              + std::to_string(group) + " (" + ch.target.to_string() + ") is "
              + (down ? "down" : "up") + ": " + because);
  if (down && hooks.reset_channel)
    hooks.reset_channel(group, index);
}

scheduler_actor::behavior_type scheduler(scheduler_pointer self, uint32_t group,
                                         group_policy policy,
                                         const group_directory* directory,
                                         scheduler_hooks hooks) {
  auto& st = self->state;
  st.group = group;
  st.policy = std::move(policy);
  st.policy.set_owner(directory, group); // failed connects come here
  st.directory = directory;
  st.hooks = std::move(hooks);
  st.publish();
  return {
    [=](failed_atom, uint32_t index) {
      auto& st = self->state;
      if (!st.policy.mark_failed(index))
        return;
      st.publish();
      log::notice("channel " + std::to_string(index) + " of group "
                  + std::to_string(st.group) + " ("
                  + st.policy.channels()[index].target.to_string()
                  + ") autodisabled after a failed connect");
    },
    [=](checked_atom, const std::vector<check_result>& results) {
      auto& st = self->state;
      auto now = health_clock::now();
      // One publication for the batch, however many channels changed (a
      // rack going dark): each copies the group's configuration.
      std::vector<std::pair<uint32_t, std::string>> changed;
      for (auto& r : results) {
        if (!st.policy.on_check(r.channel, r.passed, r.why, now))
          continue;
        auto& h = st.policy.channels()[r.channel].health;
        changed.emplace_back(
          r.channel, h.down() ? plural(h.failures, "consecutive check")
                                  + " failed (" + to_string(r.why) + ")"
                              : plural(h.successes, "consecutive check")
                                  + " passed");
      }
      if (changed.empty())
        return;
      st.publish();
      for (auto& [index, because] : changed)
        st.report_health_change(index, because);
    },
    [=](observed_atom, uint32_t index, uint32_t consecutive, uint8_t raw_why) {
      auto& st = self->state;
      auto why = error_from(raw_why);
      if (st.policy.on_observed(index, consecutive, why, health_clock::now()))
        st.on_health_changed(index, plural(consecutive, "client connect")
                                      + " failed in a row (" + to_string(why)
                                      + ")");
    },
    [=](show_atom) {
      return group_rows(self->state.policy, self->state.group);
    },
    [=](health_atom) {
      return health_rows(self->state.policy, self->state.group,
                         health_clock::now());
    },
    [=](command_atom, const control_command& cmd) {
      auto& st = self->state;
      auto before = cmd.channel < st.policy.channels().size()
                      ? st.policy.channels()[cmd.channel].health.state
                      : health_state::unchecked;
      auto result = apply_command(st.policy, cmd);
      if (result != reply::ok)
        return static_cast<int32_t>(result);
      if (cmd.what == verb::enable
          && st.policy.channels()[cmd.channel].health.state != before) {
        // Only without active checks does `enable` bring a channel up.
        st.on_health_changed(cmd.channel, "enabled by an operator");
      } else {
        st.publish();
      }
      if (cmd.what == verb::create && st.hooks.channel_created)
        st.hooks.channel_created(
          st.group, static_cast<uint32_t>(st.policy.channels().size() - 1));
      return static_cast<int32_t>(result);
    },
  };
}

} // namespace balance
