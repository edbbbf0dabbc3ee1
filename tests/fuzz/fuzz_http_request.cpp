// libFuzzer target: what the metrics endpoint parses of a stranger's
// request (core/http_request.hpp): the end of the head within the limit,
// the request line and the route. Never crash or read past the input; a
// complete head ends within the limit and routes the same alone.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/http_request.hpp"

using namespace balance;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t limit = 1024; // small, so the fuzzer reaches it
  auto scan = scan_request_head(input, limit);
  if (scan.status == http_head::too_large && size < limit)
    std::abort();
  if (scan.status != http_head::complete)
    return 0;
  if (scan.end == 0 || scan.end > size || scan.end > limit)
    std::abort();
  std::string head = input.substr(0, scan.end);
  auto route = route_metrics_request(head);
  if (route != route_metrics_request(head + "trailing bytes"))
    std::abort();
  auto line = parse_request_line(head);
  if ((route == metrics_route::bad_request) != !line)
    std::abort();
  if (line && (line->method.empty() || line->target.empty()))
    std::abort();
  return 0;
}
