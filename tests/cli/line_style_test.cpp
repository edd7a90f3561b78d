// Time stamps and colours of output lines on a terminal.
#include "cli/line_style.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <set>

using namespace confab::cli;

namespace {
// 1764000000 is 2025-11-24 16:00:00 UTC; the tests run in UTC.
const std::time_t t = 1'764'000'000 + 5 * 60;
struct Utc {
    Utc() {
        setenv("TZ", "UTC", 1);
        tzset();
    }
} utc;
} // namespace

TEST_CASE("without colour or time stamps a line is unchanged") {
    LineStyle plain;
    CHECK(style_line("alice: hi", LineKind::event, "alice", plain, t) == "alice: hi");
    CHECK(style_line("error: no", LineKind::reply, "", plain, t) == "error: no");
    CHECK(style_error("error: no", plain) == "error: no");
}

TEST_CASE("time stamps: local HH:MM before incoming lines only") {
    LineStyle s{.timestamps = true, .color = false};
    CHECK(style_line("alice: hi", LineKind::event, "alice", s, t) == "16:05 alice: hi");
    CHECK(style_line("bob logged in", LineKind::notice, "bob", s, t) == "16:05 bob logged in");
    CHECK(style_line("alice (offline, sent 2025-11-20 09:00:00): hi", LineKind::dated, "alice", s, t) ==
          "alice (offline, sent 2025-11-20 09:00:00): hi");
    CHECK(style_line("bob is blocked", LineKind::reply, "", s, t) == "bob is blocked");
}

TEST_CASE("colour: the name in its colour, errors red, notices dim") {
    LineStyle s{.timestamps = false, .color = true};
    std::string c = std::to_string(name_color("alice"));
    CHECK(style_line("alice: hi", LineKind::event, "alice", s, t) == "\x1b[" + c + "malice\x1b[0m: hi");
    CHECK(style_line("error: no", LineKind::reply, "", s, t) == "\x1b[31merror: no\x1b[0m");
    CHECK(style_error("error: gone", s) == "\x1b[31merror: gone\x1b[0m");
    CHECK(style_line("bob logged in", LineKind::notice, "bob", s, t) == "\x1b[2mbob logged in\x1b[0m");
    CHECK(style_line("16 users", LineKind::reply, "", s, t) == "16 users");
    LineStyle both{.timestamps = true, .color = true};
    CHECK(style_line("alice: hi", LineKind::event, "alice", both, t) ==
          "\x1b[2m16:05\x1b[0m \x1b[" + c + "malice\x1b[0m: hi");
}

TEST_CASE("name colours are stable, never red, and tell names apart") {
    CHECK(name_color("alice") == name_color("alice"));
    std::set<int> seen;
    for (const char* n : {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}) {
        int c = name_color(n);
        CHECK(c != 31);
        CHECK(c != 91);
        seen.insert(c);
    }
    CHECK(seen.size() >= 4);
}

TEST_CASE("--color=auto colours a terminal unless NO_COLOR is set; always and never are what they say") {
    CHECK(color_wanted(ColorMode::auto_detect, true, nullptr));
    CHECK(color_wanted(ColorMode::auto_detect, true, ""));
    CHECK_FALSE(color_wanted(ColorMode::auto_detect, true, "1"));
    CHECK_FALSE(color_wanted(ColorMode::auto_detect, false, nullptr));
    CHECK(color_wanted(ColorMode::always, false, "1"));
    CHECK_FALSE(color_wanted(ColorMode::never, true, nullptr));
}
