// The session actor: one per accepted client. It asks the schedulers for a
// channel group by group (failover order), has the connection connect on
// its io thread, and ends once the relay owns the sockets; the channel
// slot then travels with the relay's release_guard.
#pragma once

#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "net/connection.hpp"

namespace balance {

/// Every group's scheduler, by group number (fixed for the instance).
struct group_directory {
  std::vector<scheduler_actor> groups;
};
using directory_ptr = std::shared_ptr<const group_directory>;

struct session_state {
  net::connection_ptr conn;
  directory_ptr directory;
  uint64_t key = 0;
  uint32_t group = 0;
  tried_set tried;
  static inline const char* name = "balance.session";
};

caf::behavior session(caf::stateful_actor<session_state>* self,
                      net::connection_ptr conn, directory_ptr directory);

} // namespace balance
