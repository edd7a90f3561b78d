#include "cluster/redis_connection.hpp"

#include "cluster/redis_script.hpp"
#include "core/clock.hpp"

#include <hiredis/async.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace confab {

std::string RedisAddress::describe() const {
    if (!unix_path.empty()) return unix_path;
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

namespace {

// Reply handlers in the order their commands were sent: Redis answers a
// connection's commands in order, so the oldest handler takes the next reply.
// A ring that only grows (doubling): no allocation per command once it is big enough.
class HandlerRing {
public:
    using Handler = RedisConnection::ReplyHandler;
    std::size_t size() const noexcept { return size_; }
    void push(Handler h) {
        if (size_ == slots_.size()) grow();
        slots_[(head_ + size_) % slots_.size()] = std::move(h);
        ++size_;
    }
    Handler pop_front() {
        Handler h = std::move(slots_[head_]);
        slots_[head_] = nullptr;
        head_ = (head_ + 1) % slots_.size();
        --size_;
        return h;
    }
    Handler pop_back() { // undoes the last push
        --size_;
        return std::move(slots_[(head_ + size_) % slots_.size()]);
    }

private:
    void grow() {
        std::vector<Handler> bigger(std::max<std::size_t>(16, slots_.size() * 2));
        for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
        slots_ = std::move(bigger);
        head_ = 0;
    }
    std::vector<Handler> slots_;
    std::size_t head_ = 0, size_ = 0;
};

std::string_view text_of(const redisReply* r) {
    return r && r->str ? std::string_view(r->str, r->len) : std::string_view();
}

// A host that is not an address is resolved here, once: hiredis would call
// getaddrinfo at every connect, on the reactor thread.
std::string numeric_host(const std::string& host, std::string& error) {
    unsigned char buf[sizeof(in6_addr)];
    if (::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1) return host;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found) {
        error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
        return host;
    }
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr = found->ai_family == AF_INET6
                           ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
                           : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
    ::inet_ntop(found->ai_family, addr, text, sizeof text);
    ::freeaddrinfo(found);
    return text;
}

} // namespace

struct RedisConnection::Impl {
    enum class State {
        idle,       // before start()
        connecting, // connect, then AUTH/PING and SUBSCRIBE, not all answered yet
        up,
        down,    // the context is gone (or going); the retry is being scheduled
        waiting, // for the retry timer
    };

    Impl(RedisLoop& l, std::uint64_t t, RedisAddress a, Hooks h, RedisTimings tm)
        : loop(l), token(t), address(std::move(a)), hooks(std::move(h)), timings(tm),
          rng(t * 0x9E3779B97F4A7C15ull ^ std::uint64_t(monotonic_ms())) {
        if (address.unix_path.empty()) host = numeric_host(address.host, resolve_error);
    }

    RedisLoop& loop;
    const std::uint64_t token;
    const RedisAddress address;
    std::string host, resolve_error; // what hiredis connects to; why that is impossible
    Hooks hooks;
    const RedisTimings timings;

    redisAsyncContext* ac = nullptr;
    State state = State::idle;
    bool freeing = false; // inside our own redisAsyncFree

    // The fd as the loop watches it (what hiredis asked for, applied only on change).
    int fd = -1;
    bool reading = false, writing = false, watched = false, watched_writable = false;

    HandlerRing handlers;
    std::vector<const RedisScript*> scripts_sent; // on this connection: Redis has them cached
    std::vector<const char*> argv;                // command()'s scratch arrays, reused
    std::vector<std::size_t> argv_len;

    // pub/sub
    bool subscriber = false;
    std::vector<std::string> channels;
    MessageHandler on_message;
    std::size_t confirmed = 0;   // subscriptions Redis confirmed on this connection
    bool subscribe_sent = false; // SUBSCRIBE went out on this connection (after AUTH/PING)

    // The one timer: connect deadline, command timeout, or retry.
    TimePoint timer_at = 0; // 0: not armed
    TimePoint connect_deadline = 0, retry_at = 0, last_progress = 0;
    bool replied = false; // a reply arrived during this on_ready
    unsigned attempt = 0; // failed attempts since the last up
    std::uint64_t rng;

    // Work deferred until hiredis has returned (depth 0): see settle().
    int depth = 0;
    bool orphaned = false; // the RedisConnection is gone: free and delete at depth 0
    bool drop_requested = false;
    std::string drop_reason;
    bool lost = false;
    std::string lost_reason;
    bool up_pending = false;

    std::size_t awaiting() const noexcept { return handlers.size() + (channels.size() - confirmed); }
    bool usable() const noexcept { return state == State::up && !drop_requested && !orphaned; }

    // Runs `f` with hiredis callbacks deferring their consequences; settles at depth 0.
    template <class F>
    static void guarded(Impl* self, F&& f) {
        ++self->depth;
        f();
        if (--self->depth == 0) self->settle();
    }

    void settle();
    void connect_now();
    void send_hello();
    void send_subscribe(std::span<const std::string> list);
    void become_up();
    void note_lost(std::string reason);
    void request_drop(std::string reason);
    void free_context();
    void schedule_retry();
    void arm_at(TimePoint at);
    void arm_by(TimePoint at) { // unless the timer fires before `at` anyway (it then looks again)
        if (timer_at == 0 || timer_at > at) arm_at(at);
    }
    void on_timer();
    void sync_watch();

    // hiredis's callbacks (privdata / ac->data is the Impl)
    static void on_connect(const redisAsyncContext* c, int status) noexcept;
    static void on_disconnect(const redisAsyncContext* c, int status) noexcept;
    static void on_auth(redisAsyncContext* c, void* reply, void* self) noexcept;
    static void on_hello(redisAsyncContext* c, void* reply, void* self) noexcept;
    static void on_subscribe_reply(redisAsyncContext* c, void* reply, void* self) noexcept;
    static void on_reply(redisAsyncContext* c, void* reply, void* self) noexcept;
    static void ev_add_read(void* self) noexcept;
    static void ev_del_read(void* self) noexcept;
    static void ev_add_write(void* self) noexcept;
    static void ev_del_write(void* self) noexcept;
    static void ev_cleanup(void* self) noexcept;
};

void RedisConnection::Impl::settle() {
    for (;;) {
        if (orphaned) {
            if (ac) free_context();
            delete this;
            return;
        }
        if (drop_requested) {
            drop_requested = false;
            if (ac) free_context();
            note_lost(std::move(drop_reason));
            drop_reason.clear();
            continue;
        }
        if (lost) {
            lost = false;
            state = State::waiting;
            schedule_retry();
            std::string why = std::move(lost_reason);
            if (hooks.down) {
                ++depth;
                hooks.down(why);
                --depth;
            }
            continue;
        }
        if (up_pending) {
            up_pending = false;
            if (hooks.up) {
                ++depth;
                hooks.up();
                --depth;
            }
            continue;
        }
        return;
    }
}

void RedisConnection::Impl::connect_now() {
    scripts_sent.clear(); // perhaps a restarted Redis, with an empty script cache
    confirmed = 0;
    subscribe_sent = false;
    drop_requested = false;
    drop_reason.clear();
    if (!resolve_error.empty()) return note_lost(resolve_error);
    ac = address.unix_path.empty() ? redisAsyncConnect(host.c_str(), address.port)
                                   : redisAsyncConnectUnix(address.unix_path.c_str());
    if (!ac) return note_lost("out of memory");
    if (ac->err) {
        std::string why = ac->errstr ? ac->errstr : "connect failed";
        redisAsyncFree(ac);
        ac = nullptr;
        return note_lost(why);
    }
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    fd = ac->c.fd;
    reading = writing = false;
    state = State::connecting;
    redisAsyncSetConnectCallback(ac, on_connect); // asks for writability: the connect's completion
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    send_hello();
    connect_deadline = monotonic_ms() + timings.connect_timeout_ms;
    arm_at(connect_deadline);
}

// AUTH (when a password is set), then PING: the PING's answer tells whether Redis
// really answers (a listening socket alone is no proof: a stopped Redis accepts
// connections too), and whether it serves commands: a Redis loading its data set
// accepts AUTH and SUBSCRIBE but answers every other command with LOADING.
void RedisConnection::Impl::send_hello() {
    static const std::string auth = "AUTH";
    if (!address.password.empty()) {
        const char* v[3];
        std::size_t n[3];
        int argc = 0;
        auto add = [&](const std::string& s) {
            v[argc] = s.data();
            n[argc++] = s.size();
        };
        add(auth);
        if (!address.user.empty()) add(address.user);
        add(address.password);
        if (redisAsyncCommandArgv(ac, on_auth, this, argc, v, n) != REDIS_OK)
            return request_drop("cannot queue the first command");
    }
    const char* ping[1] = {"PING"};
    const std::size_t ping_len[1] = {4};
    if (redisAsyncCommandArgv(ac, on_hello, this, 1, ping, ping_len) != REDIS_OK)
        request_drop("cannot queue the first command");
}

void RedisConnection::Impl::send_subscribe(std::span<const std::string> list) {
    if (list.empty()) return;
    argv.clear();
    argv_len.clear();
    argv.push_back("SUBSCRIBE");
    argv_len.push_back(9);
    for (const auto& c : list) {
        argv.push_back(c.data());
        argv_len.push_back(c.size());
    }
    if (redisAsyncCommandArgv(ac, on_subscribe_reply, this, int(argv.size()), argv.data(), argv_len.data()) != REDIS_OK)
        request_drop("cannot queue SUBSCRIBE");
}

void RedisConnection::Impl::become_up() {
    state = State::up;
    attempt = 0;
    up_pending = true;
    last_progress = monotonic_ms();
    if (awaiting() > 0) arm_by(last_progress + timings.command_timeout_ms);
}

// Only records: the down hook and the retry come from settle(), outside hiredis.
void RedisConnection::Impl::note_lost(std::string reason) {
    state = State::down;
    up_pending = false;
    if (!lost) {
        lost = true;
        lost_reason = std::move(reason);
    }
}

// The context cannot be freed inside one of its callbacks: settle() frees it.
void RedisConnection::Impl::request_drop(std::string reason) {
    if (!drop_requested) {
        drop_requested = true;
        drop_reason = std::move(reason);
    }
}

// Every pending handler runs (with null) inside redisAsyncFree.
void RedisConnection::Impl::free_context() {
    state = State::down;
    freeing = true;
    ++depth;
    redisAsyncFree(ac);
    --depth;
    freeing = false;
    ac = nullptr;
}

void RedisConnection::Impl::schedule_retry() {
    std::int64_t base = timings.backoff_max_ms;
    if (attempt < 30) base = std::min(base, timings.backoff_min_ms << attempt);
    ++attempt;
    rng ^= rng << 13; // xorshift64: jitter, so that nodes that lost Redis together do not come back in step
    rng ^= rng >> 7;
    rng ^= rng << 17;
    const std::int64_t delay = base / 2 + std::int64_t(rng % std::uint64_t(base / 2 + 1));
    retry_at = monotonic_ms() + delay;
    arm_at(retry_at);
}

void RedisConnection::Impl::arm_at(TimePoint at) {
    timer_at = at;
    loop.arm_retry(token, std::max<std::int64_t>(0, at - monotonic_ms()));
}

void RedisConnection::Impl::on_timer() {
    timer_at = 0;
    const TimePoint now = monotonic_ms();
    switch (state) {
    case State::waiting:
        if (now >= retry_at)
            connect_now();
        else
            arm_at(retry_at);
        break;
    case State::connecting:
        if (now >= connect_deadline) {
            request_drop("no answer within " + std::to_string(timings.connect_timeout_ms) + " ms of connecting");
        } else {
            arm_at(connect_deadline);
        }
        break;
    case State::up:
        if (awaiting() == 0) break;
        if (now - last_progress >= timings.command_timeout_ms) {
            request_drop("no reply for " + std::to_string(timings.command_timeout_ms) + " ms");
        } else {
            arm_at(last_progress + timings.command_timeout_ms);
        }
        break;
    case State::idle:
    case State::down: break;
    }
}

// hiredis reads (and writes) one chunk per call and relies on being called
// again while the fd stays ready: the loop watches this fd level-triggered.
// The epoll registration changes only when what hiredis wants changes.
void RedisConnection::Impl::sync_watch() {
    if (fd < 0) return;
    if (!reading && !writing) {
        if (watched) loop.unwatch(fd);
        watched = false;
        return;
    }
    if (!watched || watched_writable != writing) {
        loop.watch(fd, token, writing);
        watched = true;
        watched_writable = writing;
    }
}

void RedisConnection::Impl::ev_add_read(void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    s->reading = true;
    s->sync_watch();
}
void RedisConnection::Impl::ev_del_read(void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    s->reading = false;
    s->sync_watch();
}
void RedisConnection::Impl::ev_add_write(void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    s->writing = true;
    s->sync_watch();
}
void RedisConnection::Impl::ev_del_write(void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    s->writing = false;
    s->sync_watch();
}
void RedisConnection::Impl::ev_cleanup(void* p) noexcept { // before hiredis closes the fd
    auto* s = static_cast<Impl*>(p);
    s->reading = s->writing = false;
    s->sync_watch();
    s->fd = -1;
}

void RedisConnection::Impl::on_connect(const redisAsyncContext* c, int status) noexcept {
    auto* s = static_cast<Impl*>(c->data);
    if (status == REDIS_OK) return; // the PING's reply makes it up
    s->note_lost(c->errstr ? c->errstr : "connect failed");
    s->ac = nullptr; // hiredis frees it after this callback
}

void RedisConnection::Impl::on_disconnect(const redisAsyncContext* c, int status) noexcept {
    auto* s = static_cast<Impl*>(c->data);
    s->ac = nullptr; // hiredis frees it after this callback
    if (s->freeing) return;
    if (s->drop_requested)
        s->note_lost(s->drop_reason); // our reason (a refused AUTH) explains it best
    else
        s->note_lost(status == REDIS_OK || !c->errstr ? "disconnected" : c->errstr);
}

void RedisConnection::Impl::on_auth(redisAsyncContext*, void* reply, void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    auto* r = static_cast<const redisReply*>(reply);
    if (!r || s->freeing || s->orphaned || s->state != State::connecting) return;
    if (r->type == REDIS_REPLY_ERROR)
        s->request_drop("AUTH: " + std::string(text_of(r))); // the PING's NOAUTH says less
}

void RedisConnection::Impl::on_hello(redisAsyncContext*, void* reply, void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    auto* r = static_cast<const redisReply*>(reply);
    if (!r || s->freeing || s->orphaned || s->state != State::connecting || s->drop_requested) return;
    if (r->type == REDIS_REPLY_ERROR) { // LOADING: tried again after the backoff
        s->request_drop("PING: " + std::string(text_of(r)));
        return;
    }
    s->last_progress = monotonic_ms();
    if (s->subscriber && !s->channels.empty()) {
        s->subscribe_sent = true;
        s->send_subscribe(s->channels);
    } else {
        s->become_up();
    }
}

void RedisConnection::Impl::on_subscribe_reply(redisAsyncContext*, void* reply, void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    auto* r = static_cast<const redisReply*>(reply);
    if (!r || s->freeing || s->orphaned) return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    const std::string_view kind = text_of(r->element[0]);
    s->replied = true;
    if (kind == "message") {
        // Moved out while it runs: it may call subscribe(), which replaces it.
        MessageHandler h = std::move(s->on_message);
        if (h) h(text_of(r->element[1]), text_of(r->element[2]));
        if (!s->on_message) s->on_message = std::move(h);
    } else if (kind == "subscribe") {
        if (s->confirmed < s->channels.size()) ++s->confirmed;
        if (s->state == State::connecting && s->confirmed == s->channels.size()) s->become_up();
    }
}

void RedisConnection::Impl::on_reply(redisAsyncContext*, void* reply, void* p) noexcept {
    auto* s = static_cast<Impl*>(p);
    ReplyHandler h = s->handlers.pop_front();
    s->replied = true;
    if (!reply && s->state == State::up) s->state = State::down; // being torn down: no new commands
    h(s->orphaned ? nullptr : static_cast<const redisReply*>(reply));
}

// ---------------------------------------------------------------- RedisConnection

RedisConnection::RedisConnection(RedisLoop& loop, std::uint64_t token, RedisAddress address, Hooks hooks,
                                 RedisTimings timings)
    : impl_(std::make_unique<Impl>(loop, token, std::move(address), std::move(hooks), timings)) {}

RedisConnection::~RedisConnection() {
    if (!impl_) return;
    Impl* s = impl_.release();
    s->orphaned = true;
    if (s->depth == 0) s->settle(); // otherwise the outermost call into hiredis finishes, then settles
}

void RedisConnection::start() {
    Impl* s = impl_.get();
    if (s->state != Impl::State::idle) return;
    Impl::guarded(s, [s] { s->connect_now(); });
}

bool RedisConnection::up() const noexcept {
    return impl_ && impl_->usable();
}

std::size_t RedisConnection::pending() const noexcept {
    return impl_ ? impl_->handlers.size() : 0;
}

void RedisConnection::command(std::span<const std::string_view> args, ReplyHandler done) {
    Impl* s = impl_.get();
    if (!s || !s->usable() || s->subscriber || args.empty() || s->handlers.size() >= max_pending) {
        done(nullptr);
        return;
    }
    s->argv.clear();
    s->argv_len.clear();
    for (std::string_view a : args) {
        s->argv.push_back(a.data());
        s->argv_len.push_back(a.size());
    }
    const bool was_idle = s->awaiting() == 0;
    s->handlers.push(std::move(done));
    if (redisAsyncCommandArgv(s->ac, Impl::on_reply, s, int(s->argv.size()), s->argv.data(), s->argv_len.data()) !=
        REDIS_OK) {
        ReplyHandler h = s->handlers.pop_back();
        h(nullptr);
        return;
    }
    if (was_idle) {
        s->last_progress = monotonic_ms(); // the command timeout counts from here
        s->arm_by(s->last_progress + s->timings.command_timeout_ms);
    }
}

void RedisConnection::eval(const RedisScript& script, std::span<const std::string_view> tail, ReplyHandler done) {
    Impl* s = impl_.get();
    std::vector<std::string_view> argv{"EVAL", script.body()};
    argv.insert(argv.end(), tail.begin(), tail.end());
    const bool sent = s && std::find(s->scripts_sent.begin(), s->scripts_sent.end(), &script) != s->scripts_sent.end();
    if (!sent) {
        if (up()) s->scripts_sent.push_back(&script); // what follows on this connection finds it cached
        return command(argv, std::move(done));
    }
    argv[0] = "EVALSHA";
    argv[1] = script.sha1();
    // Kept for a retry with the text: Redis may have forgotten the script since.
    auto again = std::make_shared<std::vector<std::string>>(tail.begin(), tail.end());
    command(argv, [this, &script, again, done = std::move(done)](const redisReply* r) mutable {
        if (!r || r->type != REDIS_REPLY_ERROR || std::string_view(r->str, r->len).substr(0, 8) != "NOSCRIPT")
            return done(r);
        std::vector<std::string_view> full{"EVAL", script.body()};
        full.insert(full.end(), again->begin(), again->end());
        command(full, std::move(done)); // a reply: the connection is alive (a gone one answers null)
    });
}

void RedisConnection::subscribe(std::vector<std::string> channels, MessageHandler on_message) {
    Impl* s = impl_.get();
    s->subscriber = true;
    s->on_message = std::move(on_message);
    std::vector<std::string> fresh;
    for (auto& c : channels)
        if (std::find(s->channels.begin(), s->channels.end(), c) == s->channels.end() &&
            std::find(fresh.begin(), fresh.end(), c) == fresh.end())
            fresh.push_back(std::move(c));
    const bool was_idle = s->awaiting() == 0;
    s->channels.insert(s->channels.end(), fresh.begin(), fresh.end());
    // Past AUTH/PING already: subscribe now; otherwise the answer to AUTH/PING subscribes to all.
    if (s->ac && !s->drop_requested && (s->state == Impl::State::up || s->subscribe_sent)) {
        s->subscribe_sent = true;
        s->send_subscribe(fresh);
        if (was_idle && !fresh.empty()) {
            s->last_progress = monotonic_ms();
            s->arm_by(s->last_progress + s->timings.command_timeout_ms);
        }
    }
}

namespace {
// 8 MiB, more than a socket buffer holds: in effect what has arrived (the fd is level-triggered).
constexpr int max_chunks_per_turn = 512;
} // namespace

void RedisConnection::on_ready(std::uint32_t events) {
    Impl* s = impl_.get();
    Impl::guarded(s, [s, events] {
        s->replied = false;
        if (s->ac && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
            // hiredis reads one 16 KiB chunk per call: take what the socket holds now (bounded),
            // so what the other nodes said is in before this turn's client commands.
            for (int chunk = 0; chunk < max_chunks_per_turn; ++chunk) {
                redisAsyncHandleRead(s->ac);
                int pending = 0;
                if (!s->ac || s->lost || s->drop_requested || ::ioctl(s->ac->c.fd, FIONREAD, &pending) != 0 ||
                    pending <= 0)
                    break;
            }
        }
        if (s->ac && !s->orphaned && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) redisAsyncHandleWrite(s->ac);
        if (s->replied) s->last_progress = monotonic_ms();
    });
}

void RedisConnection::flush() {
    Impl* s = impl_.get();
    // Only once up: before that, writability is also how hiredis learns that connect() finished.
    if (!s->writing || !s->usable() || !s->ac || !(s->ac->c.flags & REDIS_CONNECTED)) return;
    Impl::guarded(s, [s] {
        if (s->ac) redisAsyncHandleWrite(s->ac);
    });
}

void RedisConnection::on_retry_timer() {
    Impl* s = impl_.get();
    Impl::guarded(s, [s] { s->on_timer(); });
}

} // namespace confab
