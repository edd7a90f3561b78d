// One connection to Redis through hiredis's asynchronous API, driven by the
// daemon's own epoll reactor and timer queue: no thread, and the reactor never
// waits on Redis. Reconnects by itself with exponential backoff.
//
// Two uses: commands (command(), one callback per command) and, on a second
// connection, pub/sub (subscribe(): every message on the channels goes to the
// message handler; the channels are subscribed again after every reconnect).
// Reactor thread only.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace confab {

struct RedisAddress {
    std::string host = "127.0.0.1"; // TCP, unless unix_path is set
    std::uint16_t port = 6379;
    std::string unix_path;
    std::string user, password;   // AUTH [user] password after connecting, when password is set
    std::string describe() const; // "127.0.0.1:6379" or the socket path, for log lines
};

// What the connection needs from the reactor glue (the daemon's Server, or a test's loop).
class RedisLoop {
public:
    // Watch `fd` for readability (always) and writability (`writable`), level-triggered:
    // hiredis reads and writes one chunk per call and relies on being called again.
    // `token` identifies this connection in the epoll set.
    virtual void watch(int fd, std::uint64_t token, bool writable) = 0;
    virtual void unwatch(int fd) = 0;
    // Call RedisConnection::on_retry_timer() after `delay_ms` (replaces an earlier request).
    virtual void arm_retry(std::uint64_t token, std::int64_t delay_ms) = 0;

protected:
    ~RedisLoop() = default;
};

class RedisConnection {
public:
    // null: the command failed (not connected, dropped before its reply, or over max_pending).
    using ReplyHandler = std::function<void(const redisReply*)>;
    using MessageHandler = std::function<void(std::string_view channel, std::string_view payload)>;
    struct Hooks {
        std::function<void()> up;                   // connected (and authenticated, and subscribed)
        std::function<void(std::string_view)> down; // lost or failed, with the reason; a retry is scheduled
    };
    static constexpr std::size_t max_pending = 100'000; // commands sent and not yet answered

    RedisConnection(RedisLoop& loop, std::uint64_t token, RedisAddress address, Hooks hooks);
    ~RedisConnection(); // disconnects; pending handlers are called with null
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    void start(); // connect (non-blocking); Hooks::up when ready
    bool up() const noexcept;
    // argv form (binary-safe). The handler runs exactly once, maybe before command() returns
    // when the connection is down.
    void command(std::span<const std::string_view> argv, ReplyHandler done);
    // Pub/sub mode: this connection subscribes to `channels` (again after each reconnect)
    // and hands every message to `on_message`. Use a connection for this alone.
    void subscribe(std::vector<std::string> channels, MessageHandler on_message);

    // From the reactor glue:
    void on_ready(std::uint32_t epoll_events); // the watched fd is readable/writable
    void on_retry_timer();
    std::size_t pending() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace confab
