// What the actor tests share: CAF's deterministic fixture (no thread runs
// an actor unless the test says so, and time moves only when it is
// advanced), a group directory with real scheduler actors, and a helper
// that asks an actor and returns its answer once the system has run.
#pragma once

#include <chrono>
#include <string>

#include <caf/test/dsl.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "actors/scheduler.hpp"
#include "core/endpoint.hpp"

namespace balance::test {

struct protocol_config : caf::actor_system_config {
  protocol_config() { register_types(*this); }
};

/// 10.0.G.C:80 for channel C of group G.
inline endpoint channel_address(uint32_t group, uint32_t channel) {
  auto ep = parse_numeric_address("10.0." + std::to_string(group) + "."
                                  + std::to_string(channel + 1));
  ep->port = 80;
  return *ep;
}

struct actor_fixture : test_coordinator_fixture<protocol_config> {
  std::shared_ptr<group_directory> directory;

  /// `groups` groups of `channels` channels each, round robin, with -a.
  explicit actor_fixture(std::size_t groups = 2, uint32_t channels = 2)
    : directory(std::make_shared<group_directory>(groups)) {
    for (uint32_t g = 0; g < groups; ++g) {
      group_policy policy;
      policy.autodisable = true;
      for (uint32_t c = 0; c < channels; ++c)
        policy.add(channel_address(g, c), 0);
      directory->set_actor(g, sys.spawn(scheduler, g, std::move(policy),
                                        directory.get(), scheduler_hooks{}));
    }
    run();
  }

  ~actor_fixture() override {
    for (auto& a : directory->actors())
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    run();
  }

  /// Lets every actor handle what is in its mailbox while time stands
  /// still: a request's timeout fires only once advance_time reaches it
  /// (run() would fire it as soon as nothing else is left to do).
  void dispatch() { consume_messages(); }

  /// Sends a request from the test's own actor, dispatches, and returns
  /// the answer: a T or the error.
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& whom, Ts&&... xs) {
    auto handle = self->request(whom, caf::infinite, std::forward<Ts>(xs)...);
    dispatch();
    caf::expected<T> result = caf::sec::request_timeout;
    if (!self->mailbox().empty())
      handle.receive([&](T& x) { result = std::move(x); },
                     [&](caf::error& err) { result = std::move(err); });
    else
      result = caf::make_error(caf::sec::request_receiver_down,
                               "no answer yet");
    return result;
  }

  /// Like ask() but leaves the answer in the mailbox: for requests that
  /// are answered only after the test makes something else happen.
  template <class Handle, class... Ts>
  auto ask_later(const Handle& whom, Ts&&... xs) {
    auto handle = self->request(whom, caf::infinite, std::forward<Ts>(xs)...);
    dispatch();
    return handle;
  }

  /// Whether an answer is waiting in the test's own mailbox.
  bool answered() { return !self->mailbox().empty(); }
};

} // namespace balance::test
