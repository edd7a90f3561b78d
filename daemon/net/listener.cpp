#include "net/listener.hpp"

#include "log.hpp"
#include "net/peer_endpoint.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace confab {

namespace {
UniqueFd open_spare() {
    return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

} // namespace

bool is_loopback_address(const std::string& address) {
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, address.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, address.c_str(), &a6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

Listener::Listener(const std::string& address, std::uint16_t port) : spare_(open_spare()) {
    sockaddr_storage ss{};
    socklen_t len;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        throw std::system_error(EINVAL, std::generic_category(), "listen address " + address);
    }
    fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) throw std::system_error(errno, std::generic_category(), "socket");
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::system_error(errno, std::generic_category(), "bind " + address + ":" + std::to_string(port));
    if (::listen(fd_.get(), 4096) != 0) throw std::system_error(errno, std::generic_category(), "listen");
}

Listener::Listener(int activated_fd) : fd_(activated_fd), spare_(open_spare()) {
    int flags = ::fcntl(fd_.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK) != 0)
        throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK) on activated socket");
}

std::uint16_t Listener::port() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
    return 0;
}

std::string Listener::address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    return peer_address(ss).host;
}

bool Listener::accept_some(std::size_t budget, const std::function<void(UniqueFd, PeerAddress)>& on_accept) {
    for (std::size_t accepted = 0;;) {
        if (accepted == budget) return true;
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        int fd = ::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1; // chat frames are small and latency-sensitive
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ++accepted;
            on_accept(UniqueFd(fd), peer_address(ss));
            continue;
        }
        switch (errno) {
        case EAGAIN: return false;
        case EINTR:
        case ECONNABORTED:
        case EPROTO: continue;
        case EMFILE:
        case ENFILE: {
            // Free the spare, take the connection and drop it, then re-reserve.
            // accept4 says EMFILE even when nothing is pending, so stop at EAGAIN.
            spare_.reset();
            int dropped = ::accept(fd_.get(), nullptr, nullptr);
            if (dropped >= 0) {
                ::close(dropped);
                log::warning("out of file descriptors: refused a connection");
            }
            spare_ = open_spare();
            if (dropped < 0 || !spare_) return false; // drained, or nothing left to trade
            continue;
        }
        default: log::error("accept: {}", std::strerror(errno)); return false;
        }
    }
}

} // namespace confab
