// The minimal HTTP of GET /metrics: what each request head gets, and the
// metrics_listen syntax.
#include "config.hpp"
#include "metrics_http.hpp"

#include <doctest/doctest.h>

using namespace confab;

namespace {
const std::function<std::string()> body = [] { return std::string("confab_sessions 1\n"); };
std::string answer(std::string_view req) {
    return http_answer(req, MetricsHttp::max_request, body).value_or("(waiting)");
}
} // namespace

TEST_CASE("GET /metrics gets the text format with its length; the connection is not kept") {
    const std::string a = answer("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    CHECK(a.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(a.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != std::string::npos);
    CHECK(a.find("Content-Length: 18\r\n") != std::string::npos);
    CHECK(a.find("Connection: close\r\n") != std::string::npos);
    CHECK(a.ends_with("\r\n\r\nconfab_sessions 1\n"));
    CHECK(answer("GET /metrics?x=1 HTTP/1.0\n\n").starts_with("HTTP/1.1 200 OK"));
    CHECK(answer("HEAD /metrics HTTP/1.1\r\n\r\n").ends_with("Connection: close\r\n\r\n"));
}

TEST_CASE("anything else gets its status and no metrics") {
    CHECK(answer("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 Not Found"));
    CHECK(answer("GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    CHECK(answer("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    CHECK(answer("hello\r\n\r\n").starts_with("HTTP/1.1 400"));
    CHECK(answer("GET /metrics SPDY/3\r\n\r\n").starts_with("HTTP/1.1 400"));
    CHECK(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n") == "(waiting)");
    CHECK(answer(std::string(MetricsHttp::max_request, 'a')).starts_with("HTTP/1.1 431"));
}

TEST_CASE("metrics_listen is ADDRESS:PORT, IPv6 in brackets") {
    CHECK(parse_host_port("127.0.0.1:9420") == std::pair<std::string, std::uint16_t>{"127.0.0.1", 9420});
    CHECK(parse_host_port("[::1]:0") == std::pair<std::string, std::uint16_t>{"::1", 0});
    CHECK_THROWS_AS(parse_host_port("127.0.0.1"), ConfigError);
    CHECK_THROWS_AS(parse_host_port("localhost:9420"), ConfigError);
    CHECK_THROWS_AS(parse_host_port("127.0.0.1:70000"), ConfigError);
    CHECK_THROWS_AS(parse_config_text("metrics_listen = \"nope\"\n", "t"), ConfigError);
}
