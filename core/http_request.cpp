#include "core/http_request.hpp"

namespace balance {

namespace {

// RFC 9110 tchar.
bool is_token_char(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
      || (c >= '0' && c <= '9'))
    return true;
  static const char others[] = "!#$%&'*+-.^_`|~";
  for (const char* p = others; *p != '\0'; ++p)
    if (c == *p)
      return true;
  return false;
}

bool is_visible(char c) {
  return c > 0x20 && c < 0x7f;
}

} // namespace

http_head_scan scan_request_head(std::string_view data, std::size_t limit) {
  auto n = data.size() < limit ? data.size() : limit;
  for (std::size_t i = 0; i < n; ++i) {
    if (data[i] != '\n')
      continue;
    // LF LF, or LF CR LF: the line before this one was the last.
    if (i + 1 < n && data[i + 1] == '\n')
      return {http_head::complete, i + 2};
    if (i + 2 < n && data[i + 1] == '\r' && data[i + 2] == '\n')
      return {http_head::complete, i + 3};
  }
  return {n >= limit ? http_head::too_large : http_head::need_more, 0};
}

std::optional<http_request_line> parse_request_line(std::string_view head) {
  auto eol = head.find('\n');
  if (eol == std::string_view::npos)
    return std::nullopt;
  auto line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  http_request_line out;
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp1 > 32)
    return std::nullopt;
  out.method = line.substr(0, sp1);
  for (char c : out.method)
    if (!is_token_char(c))
      return std::nullopt;
  auto rest = line.substr(sp1 + 1);
  auto sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0)
    return std::nullopt;
  out.target = rest.substr(0, sp2);
  for (char c : out.target)
    if (!is_visible(c))
      return std::nullopt;
  auto version = rest.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1."
      || version[7] < '0' || version[7] > '9')
    return std::nullopt;
  out.minor_version = version[7] - '0';
  return out;
}

metrics_route route_metrics_request(std::string_view head) {
  auto line = parse_request_line(head);
  if (!line)
    return metrics_route::bad_request;
  auto path = line->target.substr(0, line->target.find('?'));
  if (path != "/metrics")
    return metrics_route::not_found;
  if (line->method == "GET")
    return metrics_route::metrics;
  if (line->method == "HEAD")
    return metrics_route::metrics_head;
  return metrics_route::not_found;
}

} // namespace balance
