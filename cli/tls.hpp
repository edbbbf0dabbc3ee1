// Mutual-TLS settings for remote control: the files are checked with
// OpenSSL before the actor system exists, because CAF 0.17 aborts or hangs
// on a bad file only when the first connection arrives.
#pragma once

#include <string>

#include <caf/actor_system_config.hpp>

#include "cli/options.hpp"

namespace balance::cli {

/// Makes the paths absolute (CAF reads the files again on every TLS
/// connection, after the daemon has changed to /), then loads cert, key
/// (with the passphrase file) and CA; "" if all is well, else a message
/// naming the bad file.
std::string validate_tls(tls_files& files);

/// Puts the files into CAF's openssl settings (after validate_tls).
void apply_tls(caf::actor_system_config& cfg, const tls_files& files);


} // namespace balance::cli
