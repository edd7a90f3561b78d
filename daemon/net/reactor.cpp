#include "net/reactor.hpp"

#include <cerrno>
#include <system_error>

namespace confab {

Reactor::Reactor() : epoll_(::epoll_create1(EPOLL_CLOEXEC)), events_(512) {
    if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

void Reactor::add(int fd, std::uint64_t token, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl(ADD)");
}

void Reactor::modify(int fd, std::uint64_t token, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl(MOD)");
}

void Reactor::remove(int fd) noexcept {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

std::span<const epoll_event> Reactor::wait(int timeout_ms) {
    int n = ::epoll_wait(epoll_.get(), events_.data(), int(events_.size()), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return {};
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    return {events_.data(), std::size_t(n)};
}

} // namespace confab
