// C escapes in an operator's string (--check-send, --check-expect): \r \n
// \t \\ \xHH, so that a binary or line-based probe fits in one argument.
// Pure, unit-tested.
#pragma once

#include <optional>
#include <string>

namespace balance {

/// The bytes `text` stands for; nullopt (and `error` says where) on an
/// unknown escape or a \x without two hex digits.
std::optional<std::string> unescape_c(const std::string& text,
                                      std::string& error);

/// The other way, for messages: printable ASCII as is, the rest escaped.
std::string escape_c(const std::string& bytes);

} // namespace balance
