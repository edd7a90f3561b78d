// One connection to Redis through hiredis's asynchronous API, driven by the
// daemon's own epoll reactor and timer queue: no thread, and the reactor never
// waits on Redis. Reconnects by itself with exponential backoff.
//
// Two uses: commands (command(), one callback per command) and, on a second
// connection, pub/sub (subscribe(): every message on the channels goes to the
// message handler; the channels are subscribed again after every reconnect).
// Reactor thread only.
//
// Life cycle: start() connects without blocking; the first commands on the new
// connection are AUTH (when a password is set) and PING, then SUBSCRIBE (pub/sub
// use); `up` fires once Redis has answered all of them. An error answer (a
// wrong password, a Redis still loading its data set) drops the connection
// and it is tried again after the backoff. A connection not up
// within connect_timeout_ms is dropped. Once up, commands that get no reply at
// all for command_timeout_ms (Redis stopped, a dead peer) drop the connection.
// Every drop, and every failed attempt, fires `down` with the reason and
// schedules a retry after a backoff doubling from backoff_min_ms to
// backoff_max_ms, with jitter (reset by each `up`).
//
// Re-entrancy: handlers and hooks may issue commands and may destroy the
// connection; destruction from inside a handler is deferred until hiredis has
// returned (the remaining handlers then get null). Hooks never run inside hiredis.
// A host name (not an address) in RedisAddress::host is resolved once, in the
// constructor (start-up), so that no connect ever waits on DNS.
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

class RedisScript;

struct RedisAddress {
    std::string host = "127.0.0.1"; // TCP, unless unix_path is set
    std::uint16_t port = 6379;
    std::string unix_path;
    std::string user, password;   // AUTH [user] password after connecting, when password is set
    std::string describe() const; // "127.0.0.1:6379" or the socket path, for log lines
};

struct RedisTimings {
    std::int64_t connect_timeout_ms = 2000; // connect + AUTH/PING + SUBSCRIBE
    std::int64_t command_timeout_ms = 3000; // no reply at all while commands are pending
    std::int64_t backoff_min_ms = 100, backoff_max_ms = 5000;
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

    RedisConnection(RedisLoop& loop, std::uint64_t token, RedisAddress address, Hooks hooks, RedisTimings timings = {});
    ~RedisConnection(); // disconnects; pending handlers are called with null; no hook fires
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    void start(); // connect (non-blocking); Hooks::up when ready
    bool up() const noexcept;
    // argv form (binary-safe). The handler runs exactly once, with the reply (valid during the
    // call only) or null; null before command() returns when the connection is not up (still
    // connecting counts as not up), on a pub/sub connection, or with max_pending already waiting.
    // Handlers must not throw (they run inside hiredis, a C library: a throw terminates).
    void command(std::span<const std::string_view> argv, ReplyHandler done);
    // Runs `script` (`tail`: numkeys, keys, args): EVAL with its text the first time on this
    // connection (Redis then caches it), EVALSHA after that, so commands keep their order. A
    // NOSCRIPT answer (SCRIPT FLUSH while connected) sends it once more with its text; the
    // handler gets that reply. The handler rules are command()'s.
    void eval(const RedisScript& script, std::span<const std::string_view> tail, ReplyHandler done);
    // Pub/sub mode: this connection subscribes to `channels` (again after each reconnect)
    // and hands every message to `on_message`. Use a connection for this alone. Called
    // again, it adds channels (and replaces the handler). Before start(): `up` then waits
    // for the subscriptions too.
    void subscribe(std::vector<std::string> channels, MessageHandler on_message);

    // From the reactor glue:
    void on_ready(std::uint32_t epoll_events); // the watched fd is readable/writable
    // Writes the commands queued so far now rather than at the next writable event
    // (what is left over still waits for it). The daemon calls it before writing to
    // its clients, so that the other nodes need not wait for this node's fan-out.
    void flush();
    void on_retry_timer();
    std::size_t pending() const noexcept; // commands waiting for their reply

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace confab
