// Thin POSIX socket helpers: the handful of TCP operations the client needs.
// Errors come back as human-readable text.
#pragma once

#include "proto/io/unique_fd.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace confab::cli {

// A socket, or why there is none.
struct SocketResult {
    UniqueFd fd;
    std::string error;
};

// Connects, waiting at most `timeout` per address; the socket is non-blocking.
SocketResult connect_with_timeout(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
// Starts a non-blocking connect to an IP literal (never a name lookup, which
// would block): POLLOUT signals completion, connect_error() the outcome.
SocketResult connect_start(const std::string& host, std::uint16_t port);
// The pending error of a socket (SO_ERROR), 0 if none.
int connect_error(int fd) noexcept;
// A non-blocking listener on an ephemeral port of `host` (an IP literal).
SocketResult listen_ephemeral(const std::string& host);
// Accepts one pending connection (non-blocking), or an empty UniqueFd.
UniqueFd accept_connection(int listen_fd) noexcept;

// The first byte waiting on a socket, without taking it; -1 if none (yet or ever).
int peek_byte(int fd) noexcept;

std::string local_address(int fd);
std::string remote_address(int fd); // the peer's IP address, "" if unknown
std::uint16_t local_port(int fd);

// "host:port", with brackets around IPv6 literals.
std::string host_port(std::string_view host, std::uint16_t port);

} // namespace confab::cli
