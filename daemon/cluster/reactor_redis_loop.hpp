// The daemon's side of RedisConnection: its fds in the reactor's epoll set
// and its timers in the server's TimerQueue (kind TimerKind::redis_retry, id =
// the connection's epoll token). The server creates one, makes its connections
// with connect(), and routes to it the epoll events whose token is_token() and
// the timers of kind redis_retry. Reactor thread only. The server's TimerFd
// is re-armed from the TimerQueue before each wait, so arming from here needs
// nothing more. Destroy it before the Reactor and TimerQueue it was given.
#pragma once

#include "cluster/redis_connection.hpp"
#include "core/timer_queue.hpp"
#include "net/reactor.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace confab {

class ReactorRedisLoop final : public RedisLoop {
public:
    // The epoll tokens of Redis connections: [first_token, first_token + max_connections),
    // above the reactor's own fds and below the control socket's connections
    // (reactor_redis_loop.cpp checks that the ranges stay apart).
    static constexpr std::uint64_t first_token = 0x100;
    static constexpr std::size_t max_connections = 64;
    static constexpr bool is_token(std::uint64_t token) noexcept {
        return token >= first_token && token < first_token + max_connections;
    }

    ReactorRedisLoop(Reactor& reactor, TimerQueue& timers);
    ~ReactorRedisLoop(); // destroys the connections (their pending handlers get null)
    ReactorRedisLoop(const ReactorRedisLoop&) = delete;
    ReactorRedisLoop& operator=(const ReactorRedisLoop&) = delete;

    // A new connection, not started; it lives as long as this loop.
    // Throws std::length_error past max_connections.
    RedisConnection& connect(RedisAddress address, RedisConnection::Hooks hooks, RedisTimings timings = {});
    // Destroys a connection made by connect() (its pending handlers get null); its token
    // is free for the next connect(). Safe inside the connection's own handlers and hooks.
    void close(RedisConnection& connection);

    void on_event(std::uint64_t token, std::uint32_t epoll_events); // is_token(token)
    // Every connection's queued commands go out now (RedisConnection::flush()).
    void flush();
    void on_timer(std::uint64_t id); // TimerKind::redis_retry, timer_id(key)

    // RedisLoop
    void watch(int fd, std::uint64_t token, bool writable) override;
    void unwatch(int fd) override;
    void arm_retry(std::uint64_t token, std::int64_t delay_ms) override;

private:
    struct Slot {
        std::unique_ptr<RedisConnection> connection;
        int fd = -1; // in the epoll set
    };
    Slot* slot(std::uint64_t token) noexcept;

    Reactor& reactor_;
    TimerQueue& timers_;
    std::vector<Slot> slots_; // index = token - first_token; a closed one has no connection
};

} // namespace confab
