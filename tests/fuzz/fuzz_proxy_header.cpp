// libFuzzer target: the PROXY protocol decoder (core/proxy_header.hpp), fed
// what a trusted proxy (or an impostor in its range) might send first.
// Whatever arrives it must never crash or read past its input, never
// consume more than it was given or more than a header may be, answer the
// same for the header alone as with bytes behind it, say "need more" for
// every shorter prefix of a header, and agree with the encoder: the
// addresses it returns, written again, decode to themselves.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/proxy_header.hpp"

using namespace balance;

namespace {

void check(bool ok) {
  if (!ok)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  // A copy of exactly `size` bytes, so that ASan sees any read past them.
  std::vector<uint8_t> input(data, data + size);
  auto d = decode_proxy_header(input.data(), input.size());
  if (d.status == proxy_parse::need_more) {
    check(size < proxy_header_max);
    return 0;
  }
  if (d.status == proxy_parse::malformed) {
    check(d.error != nullptr);
    return 0;
  }
  check(d.consumed > 0 && d.consumed <= size
        && d.consumed <= proxy_header_max);
  check(d.version == proxy_version::v1 || d.version == proxy_version::v2);
  if (d.version == proxy_version::v1)
    check(d.consumed <= proxy_v1_max);
  // The header alone decodes alike, and each shorter prefix needs more.
  std::vector<uint8_t> header(input.begin(), input.begin() + d.consumed);
  auto alone = decode_proxy_header(header.data(), header.size());
  check(alone.status == proxy_parse::done && alone.consumed == d.consumed);
  for (std::size_t n = 0; n < d.consumed; ++n) {
    std::vector<uint8_t> prefix(header.begin(), header.begin() + n);
    check(decode_proxy_header(prefix.data(), prefix.size()).status
          == proxy_parse::need_more);
  }
  if (!d.addresses)
    return 0;
  for (auto v : {proxy_version::v1, proxy_version::v2}) {
    auto again = encode_proxy_header(v, d.addresses->source,
                                     d.addresses->destination);
    auto round = decode_proxy_header(again.data.data(), again.size);
    check(round.status == proxy_parse::done && round.consumed == again.size
          && round.addresses
          && round.addresses->source == d.addresses->source
          && round.addresses->destination == d.addresses->destination);
  }
  return 0;
}
