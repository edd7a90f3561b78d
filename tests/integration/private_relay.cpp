#include "private_relay.hpp"

#include "proto/frame.hpp"
#include "proto/messages.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace confab::test {
namespace {

int listen_loopback(std::uint16_t& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 8) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error("relay: cannot listen");
    port = ntohs(addr.sin_port);
    return fd;
}

int connect_loopback(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n <= 0) return false;
        data += n;
        size -= std::size_t(n);
    }
    return true;
}

} // namespace

PrivateRelay::PrivateRelay(std::uint16_t daemon_port) : daemon_port_(daemon_port) {
    server_listener_ = listen_loopback(server_port_);
    private_listener_ = listen_loopback(private_port_);
    thread_ = std::thread([this] { run(); });
}

PrivateRelay::~PrivateRelay() {
    stop_ = true;
    thread_.join();
    ::close(server_listener_);
    ::close(private_listener_);
}

std::vector<std::uint8_t> PrivateRelay::private_bytes() const {
    std::lock_guard lock(mutex_);
    return seen_;
}

void PrivateRelay::run() {
    int client = -1, daemon = -1;           // the server link
    std::vector<std::pair<int, int>> pairs; // private chats: (dialler, real endpoint)
    std::uint16_t endpoint = 0;             // the real port of the last introduction
    proto::FrameDecoder from_daemon;
    std::vector<std::uint8_t> backlog;
    while (!stop_) {
        std::vector<pollfd> fds = {{server_listener_, POLLIN, 0}, {private_listener_, POLLIN, 0}};
        if (client >= 0) fds.push_back({client, POLLIN, 0}), fds.push_back({daemon, POLLIN, 0});
        for (auto [a, b] : pairs) fds.push_back({a, POLLIN, 0}), fds.push_back({b, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
        std::uint8_t buf[65536];
        if ((fds[0].revents & POLLIN) && client < 0) {
            client = ::accept4(server_listener_, nullptr, nullptr, SOCK_CLOEXEC);
            daemon = connect_loopback(daemon_port_);
            continue;
        }
        if ((fds[1].revents & POLLIN) && endpoint != 0) {
            int a = ::accept4(private_listener_, nullptr, nullptr, SOCK_CLOEXEC);
            int b = connect_loopback(endpoint);
            if (a >= 0 && b >= 0) {
                pairs.emplace_back(a, b);
                ++connections_;
            }
            continue;
        }
        std::size_t i = 2;
        if (client >= 0) {
            if (fds[i].revents) { // client -> daemon: as it is
                ssize_t n = ::recv(client, buf, sizeof buf, 0);
                if (n <= 0 || !send_all(daemon, buf, std::size_t(n))) stop_ = true;
            }
            if (fds[i + 1].revents) { // daemon -> client: frame by frame, introductions rewritten
                ssize_t n = ::recv(daemon, buf, sizeof buf, 0);
                if (n <= 0) break;
                backlog.insert(backlog.end(), buf, buf + n);
                for (;;) {
                    backlog.erase(backlog.begin(), backlog.begin() + std::ptrdiff_t(from_daemon.feed(backlog)));
                    auto frame = from_daemon.next();
                    if (frame.kind != proto::FrameResult::Kind::frame) break;
                    std::vector<std::uint8_t> payload(frame.payload.begin(), frame.payload.end());
                    auto decoded = proto::decode_payload(payload);
                    std::vector<std::uint8_t> out;
                    if (auto* intro = decoded.message ? std::get_if<proto::PrivateIntro>(&*decoded.message) : nullptr) {
                        proto::PrivateIntro moved = *intro;
                        endpoint = intro->port;
                        moved.host = "127.0.0.1";
                        moved.port = private_port_;
                        proto::append_frame(out, moved);
                    } else if (decoded.message) {
                        proto::append_frame(out, *decoded.message);
                    }
                    send_all(client, out.data(), out.size());
                }
            }
            i += 2;
        }
        for (auto& [a, b] : pairs) {
            for (int side = 0; side < 2; ++side, ++i) {
                if (!fds[i].revents) continue;
                int& from = side == 0 ? a : b;
                int to = side == 0 ? b : a;
                ssize_t n = ::recv(from, buf, sizeof buf, 0);
                if (n <= 0) { // pass the end on; poll(2) skips a negative fd
                    ::shutdown(to, SHUT_WR);
                    ::close(from);
                    from = -1;
                    continue;
                }
                {
                    std::lock_guard lock(mutex_);
                    seen_.insert(seen_.end(), buf, buf + n);
                }
                send_all(to, buf, std::size_t(n));
            }
        }
    }
    for (auto [a, b] : pairs)
        for (int fd : {a, b})
            if (fd >= 0) ::close(fd);
    if (client >= 0) ::close(client), ::close(daemon);
}

} // namespace confab::test
