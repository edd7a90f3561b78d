#include "cli/net.hpp"

#include <fmt/format.h>

#include "proto/names.hpp"

#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace confab::cli {
namespace {

struct AddrList {
    addrinfo* head = nullptr;
    AddrList() = default;
    AddrList(const AddrList&) = delete;
    AddrList& operator=(const AddrList&) = delete;
    ~AddrList() {
        if (head) freeaddrinfo(head);
    }
};

// Resolves host:port for TCP; returns an error sentence or an empty string.
std::string resolve(const std::string& host, std::uint16_t port, int flags, AddrList& out) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags | AI_NUMERICSERV;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &out.head);
    if (rc == 0) return {};
    return rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
}

UniqueFd open_socket(const addrinfo& ai) {
    return UniqueFd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
}

// Chat traffic is small interactive frames: send them without Nagle's delay.
void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Connects to the first resolved address that accepts: a non-blocking connect,
// then `settle(fd)` (0 or an errno) decides whether that address worked.
template <class Settle>
SocketResult connect_first(const std::string& host, std::uint16_t port, int flags, Settle settle) {
    AddrList addrs;
    if (auto err = resolve(host, port, flags, addrs); !err.empty()) return {UniqueFd{}, err};
    int last_error = ECONNREFUSED;
    for (addrinfo* ai = addrs.head; ai; ai = ai->ai_next) {
        UniqueFd fd = open_socket(*ai);
        if (!fd) {
            last_error = errno;
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last_error = errno;
            continue;
        }
        if (int err = settle(fd.get())) {
            last_error = err;
            continue;
        }
        set_nodelay(fd.get());
        return {std::move(fd), {}};
    }
    return {UniqueFd{}, std::strerror(last_error)};
}
} // namespace

SocketResult connect_with_timeout(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
    return connect_first(host, port, 0, [&](int fd) {
        pollfd pfd{fd, POLLOUT, 0};
        int n;
        do n = ::poll(&pfd, 1, int(timeout.count()));
        while (n < 0 && errno == EINTR);
        if (n <= 0) return n == 0 ? ETIMEDOUT : errno;
        return connect_error(fd);
    });
}

SocketResult connect_start(const std::string& host, std::uint16_t port) {
    // Runs on the event loop: a name lookup could block it, so only literals.
    if (!proto::is_ip_literal(host)) return {UniqueFd{}, fmt::format("'{}' is not an IP address", host)};
    // Completion is the caller's business (POLLOUT, then connect_error()).
    return connect_first(host, port, AI_NUMERICHOST, [](int) { return 0; });
}

int connect_error(int fd) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

SocketResult listen_ephemeral(const std::string& host) {
    AddrList addrs;
    if (auto err = resolve(host, 0, AI_PASSIVE | AI_NUMERICHOST, addrs); !err.empty()) return {UniqueFd{}, err};
    int last_error = EADDRNOTAVAIL;
    for (addrinfo* ai = addrs.head; ai; ai = ai->ai_next) {
        UniqueFd fd = open_socket(*ai);
        if (!fd || ::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 16) != 0) {
            last_error = errno;
            continue;
        }
        return {std::move(fd), {}};
    }
    return {UniqueFd{}, std::strerror(last_error)};
}

UniqueFd accept_connection(int listen_fd) noexcept {
    UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd) set_nodelay(fd.get());
    return fd;
}

int peek_byte(int fd) noexcept {
    unsigned char b = 0;
    ssize_t n;
    do n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == 1 ? b : -1;
}

std::string remote_address(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
    char host[NI_MAXHOST];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
        return {};
    return host;
}

std::string local_address(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
    char host[NI_MAXHOST];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
        return {};
    return host;
}

std::uint16_t local_port(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    return 0;
}

std::string host_port(std::string_view host, std::uint16_t port) {
    if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

} // namespace confab::cli
