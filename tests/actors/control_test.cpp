// Over 300 lines: every request of the control actor on one fixture.
// The control actor, alone: the secret on every request, `show` gathering
// every group and the listener (and failing in bounded time when one does
// not answer), commands, and `kill` given twice. The schedulers are real;
// the listener and a silent group are stand-ins written here.
#define CAF_SUITE control
#include "fixture.hpp"

#include "actors/control.hpp"
#include "core/limits.hpp"
#include "net/connection_registry.hpp"

using namespace balance;
using namespace balance::test;

namespace {

const std::string secret(64, 'k');

// -- stand-ins ----------------------------------------------------------------

/// A listener whose `stop` is answered only when the test sends `closed`
/// (as the io threads do once their acceptors are closed).
struct fake_listener_state {
  std::vector<caf::typed_response_promise<uint64_t>> stops;
  int stop_requests = 0;
  int drain_requests = 0;
  static inline const char* name = "fake_listener";
};

listener_actor::behavior_type
fake_listener(listener_actor::stateful_pointer<fake_listener_state> self) {
  return {
    [=](stop_atom) -> caf::result<uint64_t> {
      ++self->state.stop_requests;
      auto rp = self->make_response_promise<uint64_t>();
      self->state.stops.push_back(rp);
      return rp;
    },
    [=](closed_atom) {
      for (auto& rp : self->state.stops)
        rp.deliver(uint64_t{7});
      self->state.stops.clear();
    },
    [=](show_atom) { return caf::make_result(uint64_t{3}, uint64_t{1}); },
    [=](drain_atom, bool) -> caf::result<uint64_t> {
      ++self->state.drain_requests;
      auto rp = self->make_response_promise<uint64_t>();
      self->state.stops.push_back(rp);
      return rp;
    },
    [=](fds_atom) { return std::vector<int>{}; },
  };
}

/// A group that never answers `show` (a scheduler stuck or gone).
struct silent_state {
  std::vector<caf::typed_response_promise<std::vector<channel_status>>> held;
  static inline const char* name = "silent_scheduler";
};

scheduler_actor::behavior_type
silent_scheduler(scheduler_actor::stateful_pointer<silent_state> self) {
  return {
    [=](failed_atom, uint32_t) {},
    [=](show_atom) -> caf::result<std::vector<channel_status>> {
      auto rp = self->make_response_promise<std::vector<channel_status>>();
      self->state.held.push_back(rp);
      return rp;
    },
    [=](checked_atom, const std::vector<check_result>&) {},
    [=](observed_atom, uint32_t, uint32_t, uint8_t) {},
    [=](health_atom) { return std::vector<health_row>{}; },
    [=](command_atom, const control_command&) -> int32_t { return 0; },
  };
}

struct control_fixture : actor_fixture {
  listener_actor listener;
  net::connection_registry registry;
  control_actor control;
  int killed = 0;
  std::shared_ptr<lifecycle> life = std::make_shared<lifecycle>();
  std::vector<uint64_t> drained; ///< on_drain's counts

  control_fixture() : actor_fixture(2, 2) {
    listener = sys.spawn(fake_listener);
    control_config cfg;
    cfg.secret = secret;
    cfg.directory = directory;
    cfg.listener = listener;
    cfg.registry = &registry;
    cfg.on_killed = [this] { ++killed; };
    cfg.life = life;
    cfg.on_drain = [this](uint64_t live) { drained.push_back(live); };
    control = sys.spawn(balance::control, cfg); // detached in the daemon
    run();
  }

  ~control_fixture() override {
    caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(control, caf::exit_reason::kill);
    run();
  }

  fake_listener_state& listener_state() {
    using actor_type = std::remove_pointer_t<
      listener_actor::stateful_pointer<fake_listener_state>>;
    return deref<actor_type>(listener).state;
  }

  /// Group 1 becomes one that never answers.
  void silence_group_1() {
    directory->set_actor(1, sys.spawn(silent_scheduler));
    run();
  }

  control_command command(verb what, uint32_t group = 0, uint32_t channel = 0) {
    control_command cmd;
    cmd.what = what;
    cmd.group = group;
    cmd.channel = channel;
    return cmd;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(control_tests, control_fixture)

CAF_TEST(a wrong secret is refused and changes nothing) {
  auto before = directory->view(0);
  for (auto wrong : {std::string{}, std::string(64, 'x'), secret + "x"}) {
    auto snap = ask<snapshot>(control, show_atom::value, wrong);
    CAF_REQUIRE(!snap);
    CAF_CHECK(is_refused(snap.error()));
    auto changed = ask<int32_t>(control, command_atom::value, wrong,
                                command(verb::disable, 0, 0));
    CAF_REQUIRE(!changed);
    CAF_CHECK(is_refused(changed.error()));
    auto stopped = ask<int32_t>(control, kill_atom::value, wrong);
    CAF_REQUIRE(!stopped);
    CAF_CHECK(is_refused(stopped.error()));
  }
  CAF_CHECK(directory->view(0) == before);
  CAF_CHECK(before->channels()[0].enabled());
  CAF_CHECK_EQUAL(listener_state().stop_requests, 0);
  CAF_CHECK_EQUAL(killed, 0);
}

CAF_TEST(show gathers every group and the listener in channel order) {
  auto snap = ask<snapshot>(control, show_atom::value, secret);
  CAF_REQUIRE(snap);
  CAF_CHECK_EQUAL(snap->max_groups, static_cast<uint32_t>(max_groups));
  CAF_CHECK_EQUAL(snap->live_connections, 3u);
  CAF_CHECK_EQUAL(snap->accept_errors, 1u);
  CAF_REQUIRE_EQUAL(snap->channels.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    CAF_CHECK_EQUAL(snap->channels[i].group, i / 2);
    CAF_CHECK_EQUAL(snap->channels[i].index, i % 2);
  }
}

CAF_TEST(show fails in bounded time when a group does not answer) {
  silence_group_1();
  auto pending = ask_later(control, show_atom::value, secret);
  CAF_CHECK(!answered()); // group 1 holds it up
  advance_time(std::chrono::seconds(3));
  dispatch();
  CAF_REQUIRE(answered());
  bool timed_out = false;
  pending.receive([](snapshot&) {},
                  [&](caf::error& err) {
                    timed_out = err == caf::sec::request_timeout;
                  });
  CAF_CHECK(timed_out);
}

CAF_TEST(a command reaches its group and is published there) {
  auto code = ask<int32_t>(control, command_atom::value, secret,
                           command(verb::disable, 1, 1));
  CAF_CHECK_EQUAL(code, static_cast<int32_t>(reply::ok));
  CAF_CHECK_EQUAL(directory->view(1)->channels()[1].state,
                  channel_state::disabled);
  CAF_CHECK(directory->view(0)->channels()[1].enabled());
}

CAF_TEST(a command for a group out of range or an unknown verb is refused) {
  CAF_CHECK_EQUAL(ask<int32_t>(control, command_atom::value, secret,
                               command(verb::enable, 2)),
                  static_cast<int32_t>(reply::unknown_group));
  auto odd = ask<int32_t>(control, command_atom::value, secret,
                          command(static_cast<verb>(99)));
  CAF_REQUIRE(!odd);
  CAF_CHECK(odd.error() == caf::sec::unexpected_message);
}

CAF_TEST(create turns a name into its address before the group sees it) {
  auto cmd = command(verb::create);
  cmd.host = "localhost";
  cmd.port = "80";
  CAF_CHECK_EQUAL(ask<int32_t>(control, command_atom::value, secret, cmd),
                  static_cast<int32_t>(reply::ok));
  auto view = directory->view(0);
  CAF_REQUIRE_EQUAL(view->channels().size(), 3u);
  CAF_CHECK_EQUAL(view->channels()[2].target.to_string(), "127.0.0.1:80");
}

CAF_TEST(kill given twice - the second says already
         and the first completes once) {
  auto first = ask_later(control, kill_atom::value, secret);
  CAF_CHECK(!answered()); // the listener is closing its acceptors
  CAF_CHECK_EQUAL(listener_state().stop_requests, 1);
  auto second = ask<int32_t>(control, kill_atom::value, secret);
  CAF_CHECK_EQUAL(second, static_cast<int32_t>(reply::already));
  CAF_CHECK_EQUAL(listener_state().stop_requests, 1);
  CAF_CHECK_EQUAL(killed, 0);
  caf::anon_send(listener, closed_atom::value); // the acceptors are closed
  dispatch();
  CAF_REQUIRE(answered());
  int32_t code = -1;
  first.receive([&](int32_t c) { code = c; }, [](caf::error&) {});
  CAF_CHECK_EQUAL(code, static_cast<int32_t>(reply::ok));
  CAF_CHECK_EQUAL(killed, 1);
}

CAF_TEST(a kill whose listener did not stop in time may be given again) {
  auto first = ask_later(control, kill_atom::value, secret);
  advance_time(std::chrono::seconds(3));
  dispatch();
  CAF_REQUIRE(answered());
  bool failed = false;
  first.receive([](int32_t) {}, [&](caf::error&) { failed = true; });
  CAF_CHECK(failed);
  CAF_CHECK_EQUAL(killed, 0);
  auto again = ask_later(control, kill_atom::value, secret);
  CAF_CHECK_EQUAL(listener_state().stop_requests, 2);
  caf::anon_send(listener, closed_atom::value);
  dispatch();
  CAF_REQUIRE(answered());
  int32_t code = -1;
  again.receive([&](int32_t c) { code = c; }, [](caf::error&) {});
  CAF_CHECK_EQUAL(code, static_cast<int32_t>(reply::ok));
  CAF_CHECK_EQUAL(killed, 1);
}

CAF_TEST(drain closes the listener and then drains once) {
  auto wrong = ask<int32_t>(control, drain_atom::value, std::string{});
  CAF_REQUIRE(!wrong);
  CAF_CHECK(is_refused(wrong.error()));
  auto first = ask_later(control, drain_atom::value, secret);
  CAF_CHECK(!answered()); // the listener is closing its acceptors
  CAF_CHECK_EQUAL(listener_state().drain_requests, 1);
  CAF_CHECK(!life->draining()); // not before no client can come in
  auto second = ask<int32_t>(control, drain_atom::value, secret);
  CAF_CHECK_EQUAL(second, static_cast<int32_t>(lifecycle_reply::already));
  caf::anon_send(listener, closed_atom::value);
  dispatch();
  CAF_REQUIRE(answered());
  int32_t code = -1;
  first.receive([&](int32_t c) { code = c; }, [](caf::error&) {});
  CAF_CHECK_EQUAL(code, static_cast<int32_t>(lifecycle_reply::ok));
  CAF_CHECK(life->draining());
  CAF_REQUIRE_EQUAL(drained.size(), 1u);
  CAF_CHECK_EQUAL(drained[0], 7u);
  CAF_CHECK_EQUAL(listener_state().stop_requests, 0); // connections live on
}

CAF_TEST(lifecycle reports the phase and the successor) {
  uint32_t phase = 99;
  int32_t successor = -1;
  auto status = [&] {
    auto h = ask_later(control, lifecycle_atom::value, secret);
    CAF_REQUIRE(answered());
    h.receive(
      [&](uint32_t p, uint64_t, int32_t s) {
        phase = p;
        successor = s;
      },
      [](caf::error&) {});
  };
  status();
  CAF_CHECK_EQUAL(phase, static_cast<uint32_t>(lifecycle_phase::serving));
  CAF_CHECK_EQUAL(successor, 0);
  life->begin_upgrade();
  life->hand_over(4321);
  status();
  CAF_CHECK_EQUAL(phase, static_cast<uint32_t>(lifecycle_phase::upgrading));
  CAF_CHECK_EQUAL(successor, 4321);
}

CAF_TEST(commands are refused while the instance is handed over) {
  CAF_REQUIRE(life->begin_upgrade());
  auto during = ask<int32_t>(control, command_atom::value, secret,
                             command(verb::disable, 0, 0));
  CAF_REQUIRE(!during);
  CAF_CHECK(is_busy(during.error()));
  auto drain = ask<int32_t>(control, drain_atom::value, secret);
  CAF_CHECK_EQUAL(drain, static_cast<int32_t>(lifecycle_reply::busy));
  life->abort_upgrade(); // it failed: commands work again
  CAF_CHECK_EQUAL(ask<int32_t>(control, command_atom::value, secret,
                               command(verb::disable, 0, 0)),
                  static_cast<int32_t>(reply::ok));
  CAF_REQUIRE(life->begin_upgrade());
  life->hand_over(4321);
  auto after = ask<int32_t>(control, command_atom::value, secret,
                            command(verb::enable, 0, 0));
  CAF_REQUIRE(!after);
  CAF_CHECK(is_busy(after.error()));
  CAF_CHECK(!directory->view(0)->channels()[0].enabled());
}

CAF_TEST(the mutual TLS front adds the secret) {
  auto front = sys.spawn(control_front, control, secret);
  run();
  auto snap = ask<snapshot>(front, show_atom::value, std::string{});
  CAF_CHECK(snap);
  caf::anon_send_exit(front, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST_FIXTURE_SCOPE_END()
