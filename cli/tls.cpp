#include "cli/tls.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>


namespace balance::cli {

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

int passphrase_cb(char* buf, int size, int, void* userdata) {
  auto* pass = static_cast<std::string*>(userdata);
  if (pass->empty() || static_cast<int>(pass->size()) >= size)
    return 0; // no prompt on the terminal, ever
  pass->copy(buf, pass->size());
  return static_cast<int>(pass->size());
}

bool readable(const std::string& path) {
  return std::ifstream(path).good();
}

} // namespace

std::string validate_tls(tls_files& files) {
  if (files.cert.empty() || files.key.empty() || files.ca.empty())
    return "mutual TLS needs all of --tls-cert, --tls-key and --tls-ca";
  for (auto* path : {&files.cert, &files.key, &files.ca,
                     &files.passphrase_file})
    if (!path->empty())
      if (char* abs = ::realpath(path->c_str(), nullptr)) {
        *path = abs;
        std::free(abs);
      }
  for (auto* path : {&files.cert, &files.key, &files.ca})
    if (!readable(*path))
      return "cannot read TLS file '" + *path + "'";
  if (!files.passphrase_file.empty() && !readable(files.passphrase_file))
    return "cannot read --tls-passphrase-file '" + files.passphrase_file + "'";
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return "cannot initialise OpenSSL: " + openssl_error();
  auto pass = read_passphrase(files.passphrase_file);
  SSL_CTX_set_default_passwd_cb(ctx.get(), passphrase_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &pass);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1)
    return "bad --tls-cert '" + files.cert + "': " + openssl_error();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(),
                                  SSL_FILETYPE_PEM)
      != 1)
    return "bad --tls-key '" + files.key + "' (or wrong passphrase): "
           + openssl_error();
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "--tls-key '" + files.key + "' does not match --tls-cert '"
           + files.cert + "'";
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1)
    return "bad --tls-ca '" + files.ca + "': " + openssl_error();
  return {};
}

void apply_tls(caf::actor_system_config& cfg, const tls_files& files) {
  cfg.openssl_certificate = files.cert;
  cfg.openssl_key = files.key;
  cfg.openssl_cafile = files.ca;
  cfg.openssl_passphrase = read_passphrase(files.passphrase_file);
}

} // namespace balance::cli
