// The greeting a control client sends before any byte may reach CAF's BASP:
// a fixed-size magic plus the instance secret. The gate reads exactly this
// many bytes under a deadline and answers one byte only when it accepts, so
// an unauthenticated peer never gets anything written to it. Pure (no
// sockets), so the parser is unit-tested and fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace balance::net {

/// "BALCTL01" then 64 secret characters.
constexpr std::size_t preamble_magic_size = 8;
constexpr std::size_t preamble_secret_size = 64;
constexpr std::size_t preamble_size = preamble_magic_size
                                      + preamble_secret_size;
/// The one byte the gate writes once a peer is authenticated; BASP follows.
constexpr char preamble_accepted = '+';

/// The preamble for `secret` (cut or padded with '\0' to 64 bytes; a
/// secret of another length then simply never matches).
std::string make_preamble(const std::string& secret);

enum class preamble_verdict { accepted, bad_magic, bad_secret };

/// Checks `size` bytes (anything but preamble_size is refused). With
/// `check_secret` false only the magic counts (mutual TLS: the client's
/// certificate is its credential).
preamble_verdict check_preamble(const uint8_t* data, std::size_t size,
                                const std::string& secret, bool check_secret);

/// Compares secrets in constant time; an empty expected secret never matches.
bool secret_matches(const std::string& expected, const std::string& given);

} // namespace balance::net
