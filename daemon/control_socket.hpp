// The control socket's connections (confabctl): a UnixListener and at most
// max_connections clients in the server's epoll set, each with a small frame
// limit, a bounded output queue and an idle deadline. It checks each peer's
// credentials at accept, refuses others with one frame and a logged notice,
// decodes requests, lets only the control family through and hands each
// request to its ControlRequests (the Server), sending back what that answers.
// Reactor thread only.
#pragma once

#include "control_access.hpp"
#include "core/clock.hpp"
#include "net/connection.hpp"
#include "net/reactor.hpp"
#include "net/unix_listener.hpp"

#include "proto/messages.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace confab {

class ControlRequests {
public:
    // Appends the encoded reply frame to `reply` for a control-family `request`.
    virtual void answer(const proto::Message& request, std::vector<std::uint8_t>& reply) = 0;

protected:
    ~ControlRequests() = default;
};

class ControlSocket {
public:
    static constexpr std::size_t max_connections = 8;
    static constexpr std::size_t max_frame = 4096;          // requests are small
    static constexpr std::size_t max_output = 1 << 20;      // unsent replies per client
    static constexpr std::int64_t idle_timeout_ms = 60'000; // a client that says nothing is closed
    // epoll tokens: the listener's, then one per connection, below ConnTable's ids.
    static constexpr std::uint64_t listener_token = 6, first_token = 0x1000;

    // Arms (or re-arms) the idle deadline of the connection with this token; on_deadline follows.
    using ArmDeadline = std::function<void(std::uint64_t token, TimePoint deadline)>;
    ControlSocket(std::string path, Reactor& reactor, ControlRequests& requests, ControlIdentity self, ArmDeadline arm);
    ~ControlSocket();

    const std::string& path() const noexcept { return listener_.path(); }
    std::size_t connections() const noexcept { return conns_.size(); }
    std::uint64_t requests_answered() const noexcept { return answered_; }
    std::uint64_t peers_refused() const noexcept { return refused_; }
    static bool is_connection_token(std::uint64_t token) noexcept { return token >= first_token; }

    void on_accept();
    void on_event(std::uint64_t token, std::uint32_t events);
    void on_deadline(std::uint64_t token);

private:
    Connection* find(std::uint64_t token);
    void read_requests(Connection& c);
    void flush(Connection& c);
    void close(Connection& c); // removes it at once: nothing else holds it
    // Queues one ProtocolError, flushes what can go, and closes.
    void refuse(Connection& c, proto::Status code, std::string_view detail);

    UnixListener listener_;
    Reactor& reactor_;
    ControlRequests& requests_;
    ControlIdentity self_;
    ArmDeadline arm_;
    std::vector<std::unique_ptr<Connection>> conns_;
    std::uint64_t next_token_ = first_token;
    std::vector<std::uint8_t> read_buf_ = std::vector<std::uint8_t>(max_frame);
    std::vector<std::uint8_t> reply_;
    std::uint64_t answered_ = 0, refused_ = 0;
};

} // namespace confab
