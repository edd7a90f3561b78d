// The descriptor list of one poll(2) round. Each component adds its fds and
// keeps the returned indices to read its revents after the wait.
#pragma once

#include <cerrno>
#include <cstddef>
#include <poll.h>
#include <vector>

namespace confab::cli {

class PollSet {
public:
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    std::size_t add(int fd, short events) {
        fds_.push_back(pollfd{fd, events, 0});
        return fds_.size() - 1;
    }
    short revents(std::size_t index) const noexcept { return index < fds_.size() ? fds_[index].revents : 0; }
    // poll(2); an interrupted wait counts as a wait in which nothing happened.
    int wait(int timeout_ms) {
        int n = ::poll(fds_.data(), fds_.size(), timeout_ms);
        return n < 0 && errno == EINTR ? 0 : n;
    }

private:
    std::vector<pollfd> fds_;
};

} // namespace confab::cli
