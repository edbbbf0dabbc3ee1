// A session: one accepted client finding its channel. It walks the groups
// in failover order (core/failover.hpp), has the connection connect, and
// after a failed connect tries the next channel the walk grants; when
// there is none it closes the client (3.54 accepts, then closes).
//
// It runs on the connection's io thread and is not an actor: spawning an
// actor and a scheduler round trip per connection cost three cross-thread
// wake-ups and capped the proxy near 3 500 connections/s on this 2-core
// machine (see docs/architecture.md); picking from the published copy
// keeps every rule and needs no message on the success path.
#pragma once

#include <memory>

#include "core/failover.hpp"
#include "net/connection.hpp"

namespace balance::net {

/// Starts the session of a freshly accepted connection (on its io thread).
void start_session(connection_ptr conn,
                   std::shared_ptr<const published_groups> groups);

} // namespace balance::net
