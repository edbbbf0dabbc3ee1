// The -p traffic dump in 3.54's always-readable format: "-> N" / "-< N",
// then the bytes with non-printables as \XX, a line break after \0A and
// past 80 columns. Formatting is pure; the sink flushes every chunk.
#pragma once

#include <cstddef>
#include <cstdio>
#include <mutex>
#include <string>

namespace balance {

/// Formats one read of `n` bytes; `from_client` picks the arrow.
std::string format_dump(bool from_client, const char* data, std::size_t n);

/// Writes formatted chunks to a FILE, one whole chunk at a time, flushed.
class packet_dump {
public:
  explicit packet_dump(std::FILE* out) : out_(out) {}
  void write(bool from_client, const char* data, std::size_t n);

private:
  std::FILE* out_;
  std::mutex mtx_;
};

} // namespace balance
