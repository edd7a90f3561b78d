#include "net/timer_fd.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace confab {

TimerFd::TimerFd() : fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
}

void TimerFd::arm(std::optional<TimePoint> deadline) {
    if (deadline == armed_) return;
    itimerspec spec{};
    if (deadline) {
        // An absolute 0 would disarm; deadlines in the past fire at once.
        TimePoint at = *deadline > 0 ? *deadline : 1;
        spec.it_value.tv_sec = at / 1000;
        spec.it_value.tv_nsec = (at % 1000) * 1'000'000;
    }
    if (::timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    armed_ = deadline;
}

void TimerFd::drain() noexcept {
    std::uint64_t expirations;
    while (::read(fd_.get(), &expirations, sizeof expirations) < 0 && errno == EINTR) {}
    armed_.reset(); // it fired: the next arm() must reprogram even for the same deadline
}

} // namespace confab
