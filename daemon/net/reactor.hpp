// epoll in edge-triggered mode: registration by 64-bit token and a wait that
// returns the ready events. It knows nothing of what the fds are; the server
// resolves tokens (connection slot + generation, or a reserved value for the
// listener, timerfd, signalfd and eventfd), so an event for a connection
// closed earlier in the same batch resolves to nothing.
// Owned and called by the reactor thread only.
#pragma once

#include "proto/io/unique_fd.hpp"

#include <sys/epoll.h>

#include <cstdint>
#include <span>
#include <vector>

namespace confab {

class Reactor {
public:
    Reactor(); // throws std::system_error
    void add(int fd, std::uint64_t token, std::uint32_t events);
    void modify(int fd, std::uint64_t token, std::uint32_t events);
    void remove(int fd) noexcept;
    // Blocks up to timeout_ms (-1: no limit); EINTR returns no events.
    std::span<const epoll_event> wait(int timeout_ms);

private:
    UniqueFd epoll_;
    std::vector<epoll_event> events_;
};

} // namespace confab
