// GET /metrics for a Prometheus scraper (metrics_listen = "ADDR:PORT"): a TCP
// listener and at most max_connections clients in the server's epoll set. The
// HTTP is the least a scraper needs: one request per connection, read up to
// max_request bytes, answered (200 with the metrics, 404 for another path,
// 405 for another method, 400 for garbage, 431 when too long), our side shut
// down once the answer is written and the socket closed at the client's EOF
// or after idle_timeout_ms; no keep-alive, no chunking. Reactor thread only.
#pragma once

#include "core/clock.hpp"
#include "net/connection.hpp"
#include "net/listener.hpp"
#include "net/reactor.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab {

// The answer to the request bytes received so far, or nothing while its head is incomplete.
// `metrics` is called only for GET /metrics.
std::optional<std::string> http_answer(std::string_view received, std::size_t max_request,
                                       const std::function<std::string()>& metrics);

class MetricsHttp {
public:
    static constexpr std::size_t max_connections = 8;
    static constexpr std::size_t max_request = 4096;
    static constexpr std::int64_t idle_timeout_ms = 10'000;
    // epoll tokens: past the control socket's, below ConnTable's ids.
    static constexpr std::uint64_t listener_token = 7, first_token = std::uint64_t(1) << 31;

    using ArmDeadline = std::function<void(std::uint64_t token, TimePoint deadline)>;
    MetricsHttp(const std::string& address, std::uint16_t port, Reactor& reactor, std::function<std::string()> metrics,
                ArmDeadline arm);
    ~MetricsHttp();

    std::string address() const { return listener_.address(); }
    std::uint16_t port() const { return listener_.port(); }
    static bool is_connection_token(std::uint64_t token) noexcept { return token >= first_token; }

    void on_accept();
    void on_event(std::uint64_t token, std::uint32_t events);
    void on_deadline(std::uint64_t token);

private:
    struct Client {
        std::unique_ptr<Connection> conn;
        std::string request;
        bool answered = false;
        bool shut_down = false; // answer written and our side shut down
    };
    Client* find(std::uint64_t token);
    void read_request(Client& c);
    void flush(Client& c);
    void close(Client& c);

    Listener listener_;
    Reactor& reactor_;
    std::function<std::string()> metrics_;
    ArmDeadline arm_;
    std::vector<Client> clients_;
    std::uint64_t next_token_ = first_token;
    std::vector<std::uint8_t> read_buf_ = std::vector<std::uint8_t>(max_request);
};

} // namespace confab
