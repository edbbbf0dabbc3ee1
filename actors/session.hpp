// A session: one accepted client finding its channel. It walks the groups
// in failover order, picking from each group's published configuration,
// has the connection connect, and on a failed connect reports it to the
// group's scheduler actor and tries the next usable channel.
//
// It runs on the connection's io thread and is not an actor: spawning an
// actor and a scheduler round trip per connection cost three cross-thread
// wake-ups and capped the proxy near 3 500 connections/s on this 2-core
// machine (see docs/architecture.md); picking from the published copy
// keeps every rule and needs no message on the success path.
#pragma once

#include "actors/directory.hpp"
#include "net/connection.hpp"

namespace balance {

/// Starts the session of a freshly accepted connection (on its io thread).
void start_session(net::connection_ptr conn, directory_ptr directory);

} // namespace balance
