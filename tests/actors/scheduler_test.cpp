// The scheduler actor of a group, alone: what it publishes after a failed
// connect under -a and after an operator's command, and what it shows.
#define CAF_SUITE scheduler
#include "fixture.hpp"

using namespace balance;
using namespace balance::test;

namespace {

const client_key a_client{42};

control_command command(verb what, uint32_t channel = 0) {
  control_command cmd;
  cmd.what = what;
  cmd.channel = channel;
  return cmd;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(scheduler_tests, actor_fixture)

CAF_TEST(a failed connect under autodisable is published) {
  auto before = directory->view(0);
  CAF_REQUIRE(before->channels()[0].enabled());
  // The data path's way: the lease fails, the directory tells the owner.
  auto lease = before->pick(a_client, {});
  CAF_REQUIRE(lease);
  CAF_REQUIRE_EQUAL(lease.channel(), 0u);
  lease.fail();
  expect((failed_atom, uint32_t), from(_).to(directory->actor(0)).with(_, 0u));
  auto after = directory->view(0);
  CAF_CHECK(after != before);
  CAF_CHECK_EQUAL(after->channels()[0].state, channel_state::auto_disabled);
  CAF_CHECK_EQUAL(after->channels()[1].state, channel_state::enabled);
  CAF_CHECK_EQUAL(after->channels()[0].current(), 0u);
  // The other group heard nothing.
  CAF_CHECK_EQUAL(directory->view(1)->channels()[0].state,
                  channel_state::enabled);
}

CAF_TEST(a failed connect of a channel no longer enabled publishes nothing) {
  CAF_REQUIRE_EQUAL(ask<int32_t>(directory->actor(0), command_atom::value,
                                 command(verb::disable, 1)),
                    static_cast<int32_t>(reply::ok));
  auto before = directory->view(0);
  self->send(directory->actor(0), failed_atom::value, uint32_t{1});
  dispatch();
  CAF_CHECK(directory->view(0) == before);
  CAF_CHECK_EQUAL(before->channels()[1].state, channel_state::disabled);
  // Nor does a channel it does not have.
  self->send(directory->actor(0), failed_atom::value, uint32_t{9});
  dispatch();
  CAF_CHECK(directory->view(0) == before);
}

CAF_TEST(a command is published only when it changed the group) {
  auto before = directory->view(0);
  CAF_CHECK_EQUAL(ask<int32_t>(directory->actor(0), command_atom::value,
                               command(verb::set_hash)),
                  static_cast<int32_t>(reply::ok));
  auto hashed = directory->view(0);
  CAF_CHECK(hashed != before);
  CAF_CHECK_EQUAL(hashed->type, group_type::hash);
  CAF_CHECK_EQUAL(ask<int32_t>(directory->actor(0), command_atom::value,
                               command(verb::enable, 7)),
                  static_cast<int32_t>(reply::no_such_channel));
  CAF_CHECK(directory->view(0) == hashed);
}

CAF_TEST(show lists the channels of the group as they are now) {
  auto lease = directory->view(1)->pick(a_client, {});
  auto rows = ask<std::vector<channel_status>>(directory->actor(1),
                                               show_atom::value);
  CAF_REQUIRE(rows);
  CAF_REQUIRE_EQUAL(rows->size(), 2u);
  CAF_CHECK_EQUAL((*rows)[0].group, 1u);
  CAF_CHECK_EQUAL((*rows)[0].address, "10.0.1.1");
  CAF_CHECK_EQUAL((*rows)[0].current, 1u);
  CAF_CHECK_EQUAL((*rows)[1].index, 1u);
  CAF_CHECK_EQUAL((*rows)[1].current, 0u);
}

CAF_TEST(health results are published once they change state and call the hooks) {
  auto dir = std::make_shared<group_directory>(1);
  group_policy policy;
  policy.health.active = true;
  policy.health.rise = 2;
  policy.health.fall = 2;
  policy.add(channel_address(0, 0), 0);
  policy.add(channel_address(0, 1), 0);
  std::vector<uint32_t> resets;
  std::vector<uint32_t> created;
  scheduler_hooks hooks;
  hooks.reset_channel = [&](uint32_t, uint32_t c) { resets.push_back(c); };
  hooks.channel_created = [&](uint32_t, uint32_t c) { created.push_back(c); };
  dir->set_actor(0, sys.spawn(scheduler, uint32_t{0}, policy, dir.get(),
                              hooks));
  run();
  auto refused = static_cast<uint8_t>(check_error::refused);
  auto first = dir->view(0);
  CAF_CHECK_EQUAL(first->channels()[1].health.state, health_state::up);
  // The data path's way: the check sink is the directory.
  auto failed = [](uint32_t channel) {
    return check_result{channel, false, check_error::refused};
  };
  dir->channels_checked(0, {failed(1), {0, true, check_error::none}});
  dispatch();
  CAF_CHECK(dir->view(0) == first); // one failure: no change, no publish
  self->send(dir->actor(0), checked_atom::value,
             std::vector<check_result>{failed(1)});
  dispatch();
  auto down = dir->view(0);
  CAF_CHECK(down != first);
  CAF_CHECK(down->channels()[1].health.down());
  CAF_CHECK(!down->channels()[1].in_rotation());
  CAF_CHECK(down->channels()[1].enabled()); // the operator's state stands
  CAF_CHECK_EQUAL(resets, std::vector<uint32_t>{1});
  auto rows = ask<std::vector<health_row>>(dir->actor(0), health_atom::value);
  CAF_REQUIRE(rows);
  CAF_REQUIRE_EQUAL(rows->size(), 2u);
  CAF_CHECK_EQUAL((*rows)[1].state, health_state::down);
  CAF_CHECK_EQUAL((*rows)[1].failures, 2u);
  CAF_CHECK_EQUAL((*rows)[1].last_error, check_error::refused);
  CAF_CHECK_EQUAL((*rows)[0].state, health_state::up);
  // enable does not bring it back while checks run; two passes do.
  CAF_CHECK_EQUAL(ask<int32_t>(dir->actor(0), command_atom::value,
                               command(verb::enable, 1)),
                  static_cast<int32_t>(reply::already));
  CAF_CHECK(dir->view(0)->channels()[1].health.down());
  check_result passed{1, true, check_error::none};
  self->send(dir->actor(0), checked_atom::value,
             std::vector<check_result>{passed, passed});
  dispatch();
  CAF_CHECK_EQUAL(dir->view(0)->channels()[1].health.state, health_state::up);
  // A created channel is checked from now on.
  auto create = command(verb::create);
  create.host = "10.0.0.9";
  create.port = "80";
  CAF_CHECK_EQUAL(ask<int32_t>(dir->actor(0), command_atom::value, create),
                  static_cast<int32_t>(reply::ok));
  CAF_CHECK_EQUAL(created, std::vector<uint32_t>{2});
  // A result for a channel the group does not have changes nothing.
  auto before = dir->view(0);
  self->send(dir->actor(0), checked_atom::value,
             std::vector<check_result>{failed(9)});
  self->send(dir->actor(0), observed_atom::value, uint32_t{0}, uint32_t{5},
             refused); // no --observe
  dispatch();
  CAF_CHECK(dir->view(0) == before);
  caf::anon_send_exit(dir->actor(0), caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(a batch that takes several channels down is published once) {
  auto dir = std::make_shared<group_directory>(1);
  group_policy policy;
  policy.health.active = true;
  policy.health.fall = 2;
  for (uint32_t i = 0; i < 3; ++i)
    policy.add(channel_address(0, i), 0);
  // What each reset sees published: with one publication per batch, every
  // channel the batch took down (one per change would show 1, then 2).
  std::vector<std::size_t> down_seen;
  scheduler_hooks hooks;
  hooks.reset_channel = [&](uint32_t, uint32_t) {
    std::size_t down = 0;
    for (auto& ch : dir->view(0)->channels())
      down += ch.health.down() ? 1 : 0;
    down_seen.push_back(down);
  };
  dir->set_actor(0, sys.spawn(scheduler, uint32_t{0}, policy, dir.get(),
                              hooks));
  run();
  check_result f0{0, false, check_error::timeout};
  check_result f2{2, false, check_error::timeout};
  dir->channels_checked(0, {f0, f2, f0, f2});
  dispatch();
  CAF_CHECK_EQUAL(down_seen, (std::vector<std::size_t>{2, 2}));
  CAF_CHECK(dir->view(0)->channels()[1].in_rotation());
  caf::anon_send_exit(dir->actor(0), caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST_FIXTURE_SCOPE_END()
