// A man in the middle for private chats, to show what the wire carries: it
// sits between one client and confabd, rewrites each PrivateIntro to point at
// its own listener, forwards the client's private-chat connection from there
// to the real endpoint and keeps every byte that crossed it.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace confab::test {

class PrivateRelay {
public:
    explicit PrivateRelay(std::uint16_t daemon_port);
    ~PrivateRelay();
    PrivateRelay(const PrivateRelay&) = delete;
    PrivateRelay& operator=(const PrivateRelay&) = delete;

    // The port to give the client as its server.
    std::uint16_t port() const { return server_port_; }
    // Every byte relayed on private-chat connections, both directions.
    std::vector<std::uint8_t> private_bytes() const;
    int private_connections() const { return connections_.load(); }

private:
    void run();

    std::uint16_t daemon_port_;
    int server_listener_ = -1, private_listener_ = -1;
    std::uint16_t server_port_ = 0, private_port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    mutable std::mutex mutex_;
    std::vector<std::uint8_t> seen_;
    std::thread thread_;
};

} // namespace confab::test
