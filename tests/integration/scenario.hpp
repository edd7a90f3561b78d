// Helpers shared by the scenario tests that drive real `confab` clients.
#pragma once

#include "harness.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace confab::test {

using Lines = std::vector<std::string>;

inline bool contains(const Lines& lines, const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// A round trip through the server that prints a line of its own: unblocking a
// user that does not exist. Everything the server sent this client before the
// answer has been printed by then; returns those lines (not yet consumed ones).
inline Lines sync(ClientProcess& c) {
    static int counter = 0;
    std::string name = "zz-sync-" + std::to_string(++counter);
    std::string marker = "error: unknown user '" + name + "'";
    c.send_line("unblock " + name);
    Lines before;
    auto got = c.wait_line(
        [&](const std::string& l) {
            if (l == marker) return true;
            before.push_back(l);
            return false;
        },
        5000ms);
    REQUIRE_MESSAGE(got, "no answer to the sync request; stderr: " << c.stderr_text());
    return before;
}

// Waits until every line of `want` has been printed, in any order. Returns the missing ones.
inline Lines wait_all(ClientProcess& c, Lines want, Millis limit = 5000ms) {
    c.wait_line(
        [&](const std::string& l) {
            std::erase(want, l);
            return want.empty();
        },
        limit);
    return want;
}

} // namespace confab::test
