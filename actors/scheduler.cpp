#include "actors/scheduler.hpp"

#include "net/log.hpp"

namespace balance {

scheduler_actor::behavior_type scheduler(scheduler_pointer self,
                                         uint32_t group, group_policy policy) {
  self->state.group = group;
  self->state.policy = std::move(policy);
  return {
    [=](pick_atom, uint64_t key, const tried_set& tried) -> grant {
      auto& pol = self->state.policy;
      grant g;
      if (auto index = pol.pick(client_key{key}, tried)) {
        auto& ch = pol.channels()[*index];
        g.ok = true;
        g.channel = *index;
        g.target = ch.target;
        g.traffic = ch.traffic;
      }
      return g;
    },
    [=](failed_atom, uint32_t index) {
      auto& pol = self->state.policy;
      bool was_enabled = index < pol.channels().size()
                         && pol.channels()[index].enabled();
      pol.on_failed(index);
      if (was_enabled && !pol.channels()[index].enabled())
        log::notice("channel " + std::to_string(index) + " of group "
                    + std::to_string(self->state.group) + " ("
                    + pol.channels()[index].target.to_string()
                    + ") autodisabled after a failed connect");
    },
    [=](release_atom, uint32_t index) {
      self->state.policy.on_released(index);
    },
    [=](show_atom) {
      return group_rows(self->state.policy, self->state.group);
    },
    [=](command_atom, const control_command& cmd) {
      return static_cast<int32_t>(apply_command(self->state.policy, cmd));
    },
  };
}

} // namespace balance
