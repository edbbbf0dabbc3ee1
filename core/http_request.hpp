// The little HTTP that --metrics-listen speaks: finding the end of a
// request's head within a bound, and reading its request line, to answer
// `GET /metrics` (and HEAD) and nothing else. Pure and total: the bytes
// are a stranger's.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace balance {

enum class http_head {
  need_more, ///< no blank line yet, and under the limit
  complete,  ///< the head ends `end` bytes in
  too_large, ///< `limit` bytes and still no blank line
};

struct http_head_scan {
  http_head status = http_head::need_more;
  std::size_t end = 0; ///< complete: just past the blank line
};

/// Looks for the blank line (CRLF CRLF, or LF LF from lenient clients)
/// that ends a request's head within the first `limit` bytes of `data`.
http_head_scan scan_request_head(std::string_view data, std::size_t limit);

/// `METHOD SP request-target SP HTTP/1.x` (RFC 9112), from the start of a
/// head up to its first line end.
struct http_request_line {
  std::string_view method;
  std::string_view target;
  int minor_version = 1; ///< HTTP/1.0 or HTTP/1.1 (and 1.2..1.9 as 1.x)
};

/// nullopt unless the first line is exactly a request line as above:
/// a token method, one space, a target of visible characters, one space,
/// `HTTP/1.` and a digit, then CRLF or LF.
std::optional<http_request_line> parse_request_line(std::string_view head);

/// What the metrics endpoint answers.
enum class metrics_route {
  metrics,      ///< GET /metrics: 200 with the text
  metrics_head, ///< HEAD /metrics: 200, headers only
  not_found,    ///< any other method or target: 404
  bad_request,  ///< not an HTTP/1.x request line: 400
};

/// The route for a complete head. The target may carry a query
/// (`/metrics?x`), which is ignored.
metrics_route route_metrics_request(std::string_view head);

} // namespace balance
