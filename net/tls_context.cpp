#include "net/tls_context.hpp"

#include <cstdlib>
#include <fstream>

#include <asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace balance::net {

namespace {

std::string read_passphrase(const std::string& file) {
  if (file.empty())
    return {};
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string openssl_error() {
  char buf[256] = "unknown error";
  if (auto code = ERR_get_error())
    ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

bool readable(const std::string& path) {
  return std::ifstream(path).good();
}

void make_absolute(std::string& path) {
  if (path.empty())
    return;
  if (char* abs = ::realpath(path.c_str(), nullptr)) {
    path = abs;
    std::free(abs);
  }
}

} // namespace

std::shared_ptr<asio::ssl::context>
make_tls_context(tls_files& files, tls_role role, std::string& error) {
  if (files.cert.empty() || files.key.empty() || files.ca.empty()) {
    error = "mutual TLS needs all of --tls-cert, --tls-key and --tls-ca";
    return nullptr;
  }
  for (auto* path :
       {&files.cert, &files.key, &files.ca, &files.passphrase_file})
    make_absolute(*path);
  for (auto* path : {&files.cert, &files.key, &files.ca})
    if (!readable(*path)) {
      error = "cannot read TLS file '" + *path + "'";
      return nullptr;
    }
  if (!files.passphrase_file.empty() && !readable(files.passphrase_file)) {
    error = "cannot read --tls-passphrase-file '" + files.passphrase_file + "'";
    return nullptr;
  }
  auto ctx = std::make_shared<asio::ssl::context>(
    role == tls_role::server ? asio::ssl::context::tls_server
                             : asio::ssl::context::tls_client);
  auto* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  auto pass = read_passphrase(files.passphrase_file);
  // An empty answer makes OpenSSL fail on an encrypted key instead of
  // prompting on a terminal the daemon does not have.
  ctx->set_password_callback(
    [pass](std::size_t, asio::ssl::context::password_purpose) { return pass; });
  std::error_code ec;
  ctx->use_certificate_chain_file(files.cert, ec);
  if (ec) {
    error = "bad --tls-cert '" + files.cert + "': " + openssl_error();
    return nullptr;
  }
  ctx->use_private_key_file(files.key, asio::ssl::context::pem, ec);
  if (ec) {
    error = "bad --tls-key '" + files.key
            + "' (or wrong passphrase): " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    error = "--tls-key '" + files.key + "' does not match --tls-cert '"
            + files.cert + "'";
    return nullptr;
  }
  ctx->load_verify_file(files.ca, ec);
  if (ec) {
    error = "bad --tls-ca '" + files.ca + "': " + openssl_error();
    return nullptr;
  }
  ctx->set_verify_mode(
    asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
  return ctx;
}

} // namespace balance::net
