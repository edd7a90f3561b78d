// Connection's lifecycle: phases only move forward, and a requested close is
// remembered even when the connection dies first or afterwards (the server
// uses it to know whether the chat core still expects a disconnect).
#include "net/connection.hpp"

#include <doctest/doctest.h>

using confab::Connection;
using confab::UniqueFd;
using Phase = Connection::Phase;

TEST_CASE("a new connection is open") {
    Connection c(UniqueFd{}, 1, "peer");
    CHECK(c.phase() == Phase::open);
    CHECK(c.is_open());
    CHECK_FALSE(c.close_requested());
}

TEST_CASE("open -> closing -> dead, each step once") {
    Connection c(UniqueFd{}, 1, "peer");
    CHECK(c.request_close());
    CHECK(c.phase() == Phase::closing);
    CHECK_FALSE(c.is_open());
    CHECK_FALSE(c.request_close());
    CHECK(c.kill());
    CHECK(c.is_dead());
    CHECK(c.close_requested());
    CHECK_FALSE(c.kill());
}

TEST_CASE("a close requested after death is remembered but does not revive it") {
    Connection c(UniqueFd{}, 1, "peer");
    CHECK(c.kill());
    CHECK_FALSE(c.close_requested());
    CHECK(c.request_close());
    CHECK(c.is_dead());
    CHECK(c.close_requested());
}
