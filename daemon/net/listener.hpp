// The listening socket: bind (or adopt a socket-activated fd) and accept
// until EAGAIN. When the process runs out of fds, a reserved spare fd is
// given up to accept and immediately close the pending connection, so a
// full fd table cannot make the edge-triggered loop spin on one event.
// Reactor thread only.
#pragma once

#include "net/peer_endpoint.hpp"
#include "proto/io/unique_fd.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace confab {

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 (IPv4 or IPv6 text): traffic that never leaves the host.
bool is_loopback_address(const std::string& address);

class Listener {
public:
    // Binds address:port (port 0 = ephemeral). Throws std::system_error.
    Listener(const std::string& address, std::uint16_t port);
    // Adopts a socket passed by systemd socket activation.
    explicit Listener(int activated_fd);

    int fd() const noexcept { return fd_.get(); }
    std::uint16_t port() const;
    std::string address() const;

    // Calls on_accept(fd, peer address and port) for every pending connection.
    // Accepts until EAGAIN or `budget` connections; true when the budget ran
    // out first (connections may be pending, and edge-triggered epoll will not say so again).
    bool accept_some(std::size_t budget, const std::function<void(UniqueFd, PeerAddress)>& on_accept);

private:
    UniqueFd fd_;
    UniqueFd spare_;
};

} // namespace confab
