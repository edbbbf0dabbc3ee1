#include "actors/scheduler.hpp"

#include "log/log.hpp"

namespace balance {

scheduler_actor::behavior_type scheduler(scheduler_pointer self, uint32_t group,
                                         group_policy policy,
                                         const group_directory* directory) {
  auto& st = self->state;
  st.group = group;
  st.policy = std::move(policy);
  st.policy.set_owner(directory, group); // failed connects come here
  st.directory = directory;
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
    [=](show_atom) {
      return group_rows(self->state.policy, self->state.group);
    },
    [=](command_atom, const control_command& cmd) {
      auto& st = self->state;
      auto result = apply_command(st.policy, cmd);
      if (result == reply::ok)
        st.publish();
      return static_cast<int32_t>(result);
    },
  };
}

} // namespace balance
