#include "net/control_preamble.hpp"

#include <cstring>

namespace balance::net {

namespace {
constexpr char magic[preamble_magic_size + 1] = "BALCTL01";
}

std::string make_preamble(const std::string& secret) {
  std::string out(magic, preamble_magic_size);
  auto body = secret.substr(0, preamble_secret_size);
  body.resize(preamble_secret_size, '\0');
  return out + body;
}

preamble_verdict check_preamble(const uint8_t* data, std::size_t size,
                                const std::string& secret, bool check_secret) {
  if (size != preamble_size
      || std::memcmp(data, magic, preamble_magic_size) != 0)
    return preamble_verdict::bad_magic;
  if (!check_secret)
    return preamble_verdict::accepted;
  std::string given(reinterpret_cast<const char*>(data) + preamble_magic_size,
                    preamble_secret_size);
  // A secret of another length never matches: the padded form is compared
  // only against an expected secret of exactly the wire size.
  return secret.size() == preamble_secret_size && secret_matches(secret, given)
           ? preamble_verdict::accepted
           : preamble_verdict::bad_secret;
}

bool secret_matches(const std::string& expected, const std::string& given) {
  if (expected.empty() || expected.size() != given.size())
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i] ^ given[i]);
  return diff == 0;
}

} // namespace balance::net
