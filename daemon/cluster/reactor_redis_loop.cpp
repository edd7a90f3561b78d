#include "cluster/reactor_redis_loop.hpp"

#include "control_socket.hpp"
#include "core/clock.hpp"
#include "core/timer_key.hpp"
#include "metrics_http.hpp"

#include <stdexcept>

namespace confab {

static_assert(ReactorRedisLoop::first_token > MetricsHttp::listener_token &&
                  ReactorRedisLoop::first_token > ControlSocket::listener_token,
              "Redis tokens come after the reactor's own fds' (server.cpp's, the control and metrics listeners')");
static_assert(ReactorRedisLoop::first_token + ReactorRedisLoop::max_connections <= ControlSocket::first_token,
              "Redis tokens end before the control socket's connections'");
static_assert(ReactorRedisLoop::first_token + ReactorRedisLoop::max_connections <= timer_id_mask,
              "a token is the id of its timer");

ReactorRedisLoop::ReactorRedisLoop(Reactor& reactor, TimerQueue& timers) : reactor_(reactor), timers_(timers) {
    slots_.reserve(max_connections); // connect() never moves a slot a connection may be using
}

ReactorRedisLoop::~ReactorRedisLoop() {
    // One by one: a connection's teardown calls unwatch(), which looks at the slots.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        slots_[i].connection.reset();
        timers_.cancel(timer_key(TimerKind::redis_retry, first_token + i));
    }
}

RedisConnection& ReactorRedisLoop::connect(RedisAddress address, RedisConnection::Hooks hooks, RedisTimings timings) {
    std::size_t i = 0;
    while (i < slots_.size() && slots_[i].connection) ++i;
    if (i == max_connections) throw std::length_error("too many Redis connections");
    if (i == slots_.size()) slots_.emplace_back();
    // A closed connection's timer may still fire for this token: a connection
    // takes an early timer for a look at its deadlines, nothing more.
    slots_[i].connection =
        std::make_unique<RedisConnection>(*this, first_token + i, std::move(address), std::move(hooks), timings);
    return *slots_[i].connection;
}

void ReactorRedisLoop::close(RedisConnection& connection) {
    for (Slot& s : slots_) {
        if (s.connection.get() == &connection) {
            // Moved out first: the teardown calls unwatch(), which looks at the slots.
            std::unique_ptr<RedisConnection> gone = std::move(s.connection);
            gone.reset();
            return;
        }
    }
}

ReactorRedisLoop::Slot* ReactorRedisLoop::slot(std::uint64_t token) noexcept {
    if (!is_token(token) || token - first_token >= slots_.size()) return nullptr;
    return &slots_[token - first_token];
}

void ReactorRedisLoop::on_event(std::uint64_t token, std::uint32_t epoll_events) {
    if (Slot* s = slot(token); s && s->connection) s->connection->on_ready(epoll_events);
}

void ReactorRedisLoop::flush() {
    // By index: a connection's handlers may close connections (never moving a slot).
    for (std::size_t i = 0; i < slots_.size(); ++i)
        if (RedisConnection* c = slots_[i].connection.get()) c->flush();
}

void ReactorRedisLoop::on_timer(std::uint64_t id) {
    if (Slot* s = slot(id); s && s->connection) s->connection->on_retry_timer();
}

// Level-triggered, unlike every other fd of the reactor (no EPOLLET): hiredis
// reads at most one chunk (16 KiB) per call and writes one chunk per call, and
// expects to be called again while the socket stays readable or writable. With
// edge triggering, the rest of a large reply already in the socket would wait
// for the next arriving byte, possibly forever.
void ReactorRedisLoop::watch(int fd, std::uint64_t token, bool writable) {
    Slot* s = slot(token);
    if (!s) return;
    const std::uint32_t events = EPOLLIN | EPOLLRDHUP | (writable ? EPOLLOUT : 0u);
    if (s->fd == fd) {
        reactor_.modify(fd, token, events);
        return;
    }
    if (s->fd >= 0) reactor_.remove(s->fd);
    reactor_.add(fd, token, events);
    s->fd = fd;
}

void ReactorRedisLoop::unwatch(int fd) {
    for (Slot& s : slots_) {
        if (s.fd == fd) {
            reactor_.remove(fd);
            s.fd = -1;
            return;
        }
    }
}

void ReactorRedisLoop::arm_retry(std::uint64_t token, std::int64_t delay_ms) {
    timers_.arm(timer_key(TimerKind::redis_retry, token), monotonic_ms() + delay_ms);
}

} // namespace confab
