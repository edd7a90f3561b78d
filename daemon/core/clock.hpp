// Time as the daemon counts it: monotonic milliseconds for deadlines (TimePoint),
// Unix milliseconds for timestamps users see, and reading both clocks.
#pragma once

#include <cstdint>
#include <ctime>

namespace confab {

using TimePoint = std::int64_t; // milliseconds on the monotonic clock

// Both clocks, read at one instant: what the chat core is given with every event.
struct Now {
    TimePoint mono;       // monotonic milliseconds: deadlines, whoelsesince windows
    std::int64_t wall_ms; // Unix milliseconds: timestamps users see
};

inline TimePoint monotonic_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return TimePoint(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

inline std::int64_t wall_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

} // namespace confab
