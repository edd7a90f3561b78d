// What a timer is for, packed into its TimerQueue key. One queue (behind one
// timerfd) serves both the chat rules and the reactor glue, so every kind of
// timer is listed here: the top 8 bits of a key are the kind, the low 56 bits
// say which one (a connection id or a lock number).
#pragma once

#include "core/timer_queue.hpp"

#include <cstdint>

namespace confab {

enum class TimerKind : std::uint8_t {
    // ChatCore's
    login_deadline = 1, // a connection that has not logged in yet
    idle = 2,           // a logged-in session without a command
    lock = 3,           // a locked login name
    route_answer = 4,   // the oldest Direct sent to another node that has no answer yet (cluster)
    claim_retry = 5,    // a login whose claim another node refused claims again (cluster; id: the user)
    // the reactor glue's (Server)
    close_deadline = 0x80,    // a closing connection's last frames
    watchdog = 0x81,          // systemd's WATCHDOG=1
    status = 0x82,            // systemd's STATUS= line
    log_summary = 0x83,       // summary lines of rate-limited log events (log_flood.hpp)
    control_idle = 0x84,      // a control-socket connection that has said nothing for a while
    metrics_idle = 0x85,      // a GET /metrics connection that has not finished its request
    redis_retry = 0x86,       // a Redis connection's connect/command deadline or reconnect (id: its epoll token)
    cluster_heartbeat = 0x87, // refresh this node's alive key in Redis (RedisEngine)
    cluster_liveness = 0x88,  // look for nodes that stopped heartbeating (RedisEngine)
};

inline constexpr unsigned timer_id_bits = 56;
inline constexpr std::uint64_t timer_id_mask = (std::uint64_t(1) << timer_id_bits) - 1;
static_assert(timer_id_bits + 8 * sizeof(TimerKind) == 8 * sizeof(TimerQueue::Key), "kind and id fill a key");

// `id` must fit in timer_id_bits; ConnTable's ids do (checked where they meet, in the glue).
constexpr TimerQueue::Key timer_key(TimerKind k, std::uint64_t id) noexcept {
    return std::uint64_t(k) << timer_id_bits | (id & timer_id_mask);
}
constexpr TimerKind timer_kind(TimerQueue::Key key) noexcept {
    return TimerKind(key >> timer_id_bits);
}
constexpr std::uint64_t timer_id(TimerQueue::Key key) noexcept {
    return key & timer_id_mask;
}

} // namespace confab
