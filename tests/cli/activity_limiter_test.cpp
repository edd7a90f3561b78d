// PrivateActivity pacing: at once, then at most once per window, the last of a burst at the window's end.
#include "cli/activity_limiter.hpp"

#include <doctest/doctest.h>

using confab::cli::ActivityLimiter;
using namespace std::chrono_literals;

TEST_CASE("the first private text is reported at once, a burst after it once at the end of the window") {
    ActivityLimiter limiter;
    const auto t0 = ActivityLimiter::Clock::time_point{} + 1000s;
    CHECK(limiter.on_activity(t0));
    CHECK_FALSE(limiter.deadline());
    CHECK_FALSE(limiter.on_activity(t0 + 1s));
    CHECK_FALSE(limiter.on_activity(t0 + 4s));
    REQUIRE(limiter.deadline());
    CHECK(*limiter.deadline() == t0 + 10s);
    CHECK_FALSE(limiter.due(t0 + 9s));
    CHECK(limiter.due(t0 + 10s));
    CHECK_FALSE(limiter.due(t0 + 11s)); // reported once
    CHECK_FALSE(limiter.deadline());
    CHECK_FALSE(limiter.on_activity(t0 + 15s)); // 5 s after the last report
    CHECK(*limiter.deadline() == t0 + 20s);
}

TEST_CASE("text after a quiet window is reported at once; nothing is reported without text") {
    ActivityLimiter limiter;
    const auto t0 = ActivityLimiter::Clock::time_point{} + 1000s;
    CHECK_FALSE(limiter.due(t0));
    CHECK(limiter.on_activity(t0));
    CHECK_FALSE(limiter.due(t0 + 60s));
    CHECK(limiter.on_activity(t0 + 60s));
    CHECK_FALSE(limiter.deadline());
}

TEST_CASE("an idle warning takes a held-back report at once; without one there is nothing to send") {
    ActivityLimiter limiter;
    const auto t0 = ActivityLimiter::Clock::time_point{} + 1000s;
    CHECK_FALSE(limiter.take_pending(t0));
    CHECK(limiter.on_activity(t0));
    CHECK_FALSE(limiter.take_pending(t0 + 1s)); // nothing since the report
    CHECK_FALSE(limiter.on_activity(t0 + 1s));
    CHECK(limiter.take_pending(t0 + 2s));
    CHECK_FALSE(limiter.deadline());
    CHECK_FALSE(limiter.on_activity(t0 + 3s)); // the window now runs from t0 + 2 s
    CHECK(*limiter.deadline() == t0 + 12s);
}
