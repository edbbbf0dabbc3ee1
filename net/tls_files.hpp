// The files of a mutual-TLS identity, as the command line names them
// (plain strings: cheap to include where no TLS code is needed).
#pragma once

#include <string>

namespace balance::net {

struct tls_files {
  std::string cert, key, ca, passphrase_file;
  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

} // namespace balance::net
