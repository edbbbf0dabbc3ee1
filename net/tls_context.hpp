// Mutual-TLS contexts for remote control (Asio over OpenSSL): both sides
// present a certificate and verify the other's against the given CA. Built
// once at start, so a bad file is refused before anything listens.
#pragma once

#include <memory>
#include <string>

#include "net/tls_files.hpp"

namespace asio::ssl {
class context;
}

namespace balance::net {

enum class tls_role { server, client };

/// Makes the paths absolute (the daemon later changes to /), loads cert,
/// key (with the passphrase file; never a prompt) and CA, and demands a
/// verified peer certificate. Null with `error` naming the bad file.
std::shared_ptr<asio::ssl::context>
make_tls_context(tls_files& files, tls_role role, std::string& error);

} // namespace balance::net
