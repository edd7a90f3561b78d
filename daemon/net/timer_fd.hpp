// The loop's single timerfd (CLOCK_MONOTONIC): armed to the earliest
// deadline of the TimerQueue, re-armed only when that deadline changes.
// Reactor thread only.
#pragma once

#include "core/clock.hpp"
#include "proto/io/unique_fd.hpp"

#include <optional>

namespace confab {

class TimerFd {
public:
    TimerFd(); // throws std::system_error
    int fd() const noexcept { return fd_.get(); }
    // Arms for `deadline` (monotonic ms), or disarms on nullopt.
    void arm(std::optional<TimePoint> deadline);
    // Consumes the expiry count after the fd became readable.
    void drain() noexcept;

private:
    UniqueFd fd_;
    std::optional<TimePoint> armed_;
};

} // namespace confab
