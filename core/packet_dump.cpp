#include "core/packet_dump.hpp"

namespace balance {

std::string format_dump(bool from_client, const char* data, std::size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out = from_client ? "-> " : "-< ";
  out += std::to_string(n);
  out += '\n';
  std::size_t column = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(data[i]);
    if (c == '\\') {
      out += "\\\\";
      column += 2;
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++column;
    } else {
      out += '\\';
      out += hex[c >> 4];
      out += hex[c & 0xf];
      column += 3;
      if (c == '\n') {
        out += '\n';
        column = 0;
        continue;
      }
    }
    if (column > 80) {
      out += '\n';
      column = 0;
    }
  }
  out += '\n';
  return out;
}

void packet_dump::write(bool from_client, const char* data, std::size_t n) {
  auto text = format_dump(from_client, data, n);
  std::lock_guard<std::mutex> lock{mtx_};
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

} // namespace balance
