// The metrics endpoint's HTTP (core/http_request.hpp): where a request's
// head ends within the limit, the request line, and the route.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/http_request.hpp"

using namespace balance;
using namespace std::string_literals;

TEST_CASE("a request head ends at its blank line", "[http]") {
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nbody";
  auto scan = scan_request_head(req, 8192);
  CHECK(scan.status == http_head::complete);
  CHECK(scan.end == req.size() - 4);
  auto lf = scan_request_head("GET /metrics HTTP/1.0\n\n", 8192);
  CHECK(lf.status == http_head::complete);
  CHECK(lf.end == 23);
}

TEST_CASE("a head without its blank line needs more until the limit",
          "[http]") {
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t n = 0; n < req.size(); ++n) {
    CAPTURE(n);
    CHECK(scan_request_head(req.substr(0, n), 8192).status
          == http_head::need_more);
  }
  std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a');
  CHECK(scan_request_head(big, 8192).status == http_head::too_large);
  CHECK(scan_request_head(big.substr(0, 8191), 8192).status
        == http_head::need_more);
  // A blank line just past the limit does not count.
  std::string edge = std::string(8190, 'a') + "\n\n";
  CHECK(scan_request_head(edge, 8192).status == http_head::complete);
  CHECK(scan_request_head(edge, 8191).status == http_head::too_large);
}

TEST_CASE("a request line is method, target and HTTP/1.x", "[http]") {
  auto line = parse_request_line("GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  REQUIRE(line);
  CHECK(line->method == "GET");
  CHECK(line->target == "/metrics?x=1");
  CHECK(line->minor_version == 0);
  CHECK(parse_request_line("HEAD / HTTP/1.1\n")->minor_version == 1);
}

TEST_CASE("what is not a request line is refused", "[http]") {
  for (const std::string& bad : std::vector<std::string>{
         "", "\r\n", "GET\r\n", "GET /metrics\r\n",
         "GET  /metrics HTTP/1.1\r\n", "GET /metrics  HTTP/1.1\r\n",
         "GET /metrics HTTP/2.0\r\n", "GET /metrics HTTP/1.1 \r\n",
         "GET /met rics HTTP/1.1\r\n", "G(T /metrics HTTP/1.1\r\n",
         "GET /metrics http/1.1\r\n", "GET /metrics HTTP/1.x\r\n",
         "GET /metrics HTTP/1.1", "GET /me\0trics HTTP/1.1\r\n"s,
         "GET /m\x7f HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_request_line(bad));
  }
}

TEST_CASE("only GET and HEAD of /metrics are answered with metrics", "[http]") {
  CHECK(route_metrics_request("GET /metrics HTTP/1.1\r\n\r\n")
        == metrics_route::metrics);
  CHECK(route_metrics_request("GET /metrics?name[]=x HTTP/1.0\r\n\r\n")
        == metrics_route::metrics);
  CHECK(route_metrics_request("HEAD /metrics HTTP/1.1\r\n\r\n")
        == metrics_route::metrics_head);
  for (const std::string& other : std::vector<std::string>{
         "GET / HTTP/1.1\r\n\r\n", "GET /metrics/ HTTP/1.1\r\n\r\n",
         "GET /Metrics HTTP/1.1\r\n\r\n", "POST /metrics HTTP/1.1\r\n\r\n",
         "get /metrics HTTP/1.1\r\n\r\n", "GET /metricsx HTTP/1.1\r\n\r\n",
         "GET http://h/metrics HTTP/1.1\r\n\r\n"}) {
    CAPTURE(other);
    CHECK(route_metrics_request(other) == metrics_route::not_found);
  }
  CHECK(route_metrics_request("hello\r\n\r\n") == metrics_route::bad_request);
}
