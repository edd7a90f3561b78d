// Reading the clocks: monotonic milliseconds for deadlines, Unix milliseconds for timestamps.
#pragma once

#include "core/timer_queue.hpp"

#include <ctime>

namespace confab {

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
