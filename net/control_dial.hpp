// The client's side of the control gate: connect (AF_UNIX or TCP, with
// mutual TLS when asked), send the preamble, wait for the gate's one-byte
// answer, all under one deadline; then the socket is ready for BASP.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace asio::ssl {
class context;
}

namespace balance::net {

struct dial_result {
  int fd = -1;          ///< for BASP (owned by the caller); -1 on failure
  bool refused = false; ///< the gate closed without accepting us
  std::string error;
};

/// Keeps alive what a TLS link needs after dialling (a relay thread
/// between the TLS stream and the socketpair end handed to BASP).
class control_link {
public:
  control_link();
  ~control_link();
  control_link(const control_link&) = delete;
  control_link& operator=(const control_link&) = delete;

  dial_result dial_local(const std::string& path, const std::string& secret,
                         std::chrono::milliseconds timeout);
  /// `tls` null: plain TCP with the secret (loopback or
  /// --insecure-control). With TLS the certificate is the credential.
  dial_result dial_tcp(const std::string& host, uint16_t port,
                       const std::string& secret,
                       std::shared_ptr<asio::ssl::context> tls,
                       std::chrono::milliseconds timeout);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace balance::net
