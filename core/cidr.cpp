#include "core/cidr.hpp"

namespace balance {

namespace {

// Clears every bit past the first `prefix` of `bytes`.
void mask(std::array<uint8_t, 16>& bytes, unsigned prefix, unsigned width) {
  for (unsigned bit = prefix; bit < width; ++bit)
    bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
}

std::optional<unsigned> parse_prefix(const std::string& text) {
  if (text.empty() || text.size() > 3
      || text.find_first_not_of("0123456789") != std::string::npos
      || (text.size() > 1 && text[0] == '0'))
    return std::nullopt;
  return static_cast<unsigned>(std::stoul(text));
}

} // namespace

bool cidr::contains(const endpoint& addr) const {
  if (addr.v6 != v6)
    return false;
  unsigned full = prefix / 8;
  for (unsigned i = 0; i < full; ++i)
    if (addr.bytes[i] != bytes[i])
      return false;
  unsigned rest = prefix % 8;
  if (rest == 0)
    return true;
  auto m = static_cast<uint8_t>(0xff00u >> rest);
  return (addr.bytes[full] & m) == bytes[full];
}

std::string cidr::to_string() const {
  endpoint ep;
  ep.v6 = v6;
  ep.bytes = bytes;
  return ep.address_text() + "/" + std::to_string(prefix);
}

std::optional<cidr> parse_cidr(const std::string& text) {
  auto slash = text.find('/');
  auto addr = parse_numeric_address(text.substr(0, slash));
  if (!addr)
    return std::nullopt;
  // parse_numeric_address folds ::ffff:a.b.c.d to IPv4: its prefix then
  // counts the 96 bits of the mapping too.
  bool mapped = !addr->v6
                && text.substr(0, slash).find(':') != std::string::npos;
  unsigned width = addr->v6 ? 128 : 32;
  unsigned prefix = width;
  if (slash != std::string::npos) {
    auto p = parse_prefix(text.substr(slash + 1));
    if (!p)
      return std::nullopt;
    if (mapped) {
      if (*p < 96 || *p > 128)
        return std::nullopt;
      *p -= 96;
    }
    if (*p > width)
      return std::nullopt;
    prefix = *p;
  }
  cidr out;
  out.v6 = addr->v6;
  out.bytes = addr->bytes;
  out.prefix = prefix;
  mask(out.bytes, prefix, width);
  return out;
}

std::optional<std::vector<cidr>> parse_cidr_list(const std::string& text,
                                                 std::string& bad) {
  std::vector<cidr> out;
  std::size_t start = 0;
  while (true) {
    auto comma = text.find(',', start);
    auto item = text.substr(
      start, comma == std::string::npos ? std::string::npos : comma - start);
    auto range = parse_cidr(item);
    if (!range) {
      bad = item;
      return std::nullopt;
    }
    out.push_back(*range);
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

bool any_contains(const std::vector<cidr>& ranges, const endpoint& addr) {
  for (auto& r : ranges)
    if (r.contains(addr))
      return true;
  return false;
}

} // namespace balance
