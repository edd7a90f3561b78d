// RedisConnection against a real redis-server: order and completeness of
// replies, pub/sub, AUTH, losing Redis and getting it back, the bounds, and
// teardown (no fd left, every handler called once). A small epoll loop of the
// test's own drives the connections (TestLoop), and one case drives them
// through the daemon's glue (ReactorRedisLoop over Reactor + TimerQueue + TimerFd).
#include "cluster/reactor_redis_loop.hpp"
#include "cluster/redis_connection.hpp"
#include "core/clock.hpp"
#include "core/timer_key.hpp"
#include "net/timer_fd.hpp"
#include "redis_server.hpp"

#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace confab;
using namespace confab::test;

namespace {

// Level-triggered epoll and a map of retry deadlines: the least a RedisLoop needs.
class TestLoop final : public RedisLoop {
public:
    TestLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) { REQUIRE(epoll_ >= 0); }
    ~TestLoop() { ::close(epoll_); }

    void add(RedisConnection& c, std::uint64_t token) { conns_[token] = &c; }
    void forget(std::uint64_t token) {
        conns_.erase(token);
        timers_.erase(token);
    }

    void watch(int fd, std::uint64_t token, bool writable) override {
        epoll_event ev{};
        ev.events = EPOLLIN | (writable ? EPOLLOUT : 0u);
        ev.data.u64 = token;
        if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev) != 0) {
            REQUIRE(errno == ENOENT);
            REQUIRE(::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0);
        }
        ++watch_calls;
    }
    void unwatch(int fd) override { ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr); }
    void arm_retry(std::uint64_t token, std::int64_t delay_ms) override { timers_[token] = monotonic_ms() + delay_ms; }

    // Turns the loop until `done` holds or `limit_ms` pass; returns `done()`.
    bool run_until(const std::function<bool()>& done, std::int64_t limit_ms = 5000) {
        const TimePoint deadline = monotonic_ms() + limit_ms;
        while (!done()) {
            const TimePoint now = monotonic_ms();
            if (now >= deadline) return false;
            turn(int(std::min<std::int64_t>(deadline - now, 10)));
        }
        return true;
    }
    void run_for(std::int64_t ms) {
        run_until([] { return false; }, ms);
    }

    int watch_calls = 0;
    bool serve_writable = true; // false: writability is never reported (only flush() writes)

private:
    void turn(int timeout_ms) {
        epoll_event evs[16];
        int n = ::epoll_wait(epoll_, evs, 16, timeout_ms);
        for (int i = 0; i < n; ++i) {
            const std::uint32_t events = serve_writable ? evs[i].events : evs[i].events & ~std::uint32_t(EPOLLOUT);
            if (events == 0) continue;
            if (auto it = conns_.find(evs[i].data.u64); it != conns_.end()) it->second->on_ready(events);
        }
        const TimePoint now = monotonic_ms();
        std::vector<std::uint64_t> due;
        for (auto& [token, at] : timers_)
            if (at <= now) due.push_back(token);
        for (std::uint64_t token : due) {
            timers_.erase(token);
            if (auto it = conns_.find(token); it != conns_.end()) it->second->on_retry_timer();
        }
    }

    int epoll_;
    std::map<std::uint64_t, RedisConnection*> conns_;
    std::map<std::uint64_t, TimePoint> timers_;
};

// What a connection's hooks saw.
struct HookLog {
    int ups = 0, downs = 0;
    std::string last_down;
    RedisConnection::Hooks hooks() {
        return {[this] { ++ups; },
                [this](std::string_view why) {
                    ++downs;
                    last_down = std::string(why);
                }};
    }
};

RedisServerOptions options(bool aof, std::string password = {}, std::string user = {}) {
    RedisServerOptions o;
    o.aof = aof;
    o.password = std::move(password);
    o.user = std::move(user);
    return o;
}

RedisAddress address_of(const RedisServer& redis) {
    RedisAddress a;
    a.host = "127.0.0.1";
    a.port = redis.port();
    a.user = redis.options().user;
    a.password = redis.options().password;
    return a;
}

// A connection on a TestLoop, with its hook log.
struct Conn {
    Conn(TestLoop& loop, RedisAddress address, std::uint64_t token = 1, RedisTimings timings = {})
        : loop(loop), token(token), c(std::make_unique<RedisConnection>(loop, token, address, log.hooks(), timings)) {
        loop.add(*c, token);
    }
    ~Conn() { destroy(); }
    void destroy() {
        loop.forget(token);
        c.reset();
    }
    bool start_and_wait_up(std::int64_t limit_ms = 5000) {
        c->start();
        return loop.run_until([&] { return c->up(); }, limit_ms);
    }
    TestLoop& loop;
    std::uint64_t token;
    HookLog log;
    std::unique_ptr<RedisConnection> c;
};

// A reply as text (see reply_text), or nullopt for a null one.
struct Result {
    int calls = 0;
    std::optional<std::string> text;
    RedisConnection::ReplyHandler handler() {
        return [this](const redisReply* r) {
            ++calls;
            if (r)
                text = reply_text(r);
            else
                text.reset();
        };
    }
};

void send(RedisConnection& c, std::initializer_list<std::string_view> args, RedisConnection::ReplyHandler h) {
    std::vector<std::string_view> v(args);
    c.command(v, std::move(h));
}

std::size_t open_fds() {
    std::size_t n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    REQUIRE(d);
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

} // namespace

TEST_CASE("commands are answered in the order they were sent, each handler once") {
    RedisServer redis;
    TestLoop loop;
    Conn conn(loop, address_of(redis));
    REQUIRE(conn.start_and_wait_up());
    CHECK(conn.log.ups == 1);

    std::vector<std::string> seen;
    send(*conn.c, {"SET", "k", "1"}, [&](const redisReply* r) { seen.push_back("set " + reply_text(r)); });
    send(*conn.c, {"INCR", "k"}, [&](const redisReply* r) { seen.push_back("incr " + reply_text(r)); });
    send(*conn.c, {"GET", "k"}, [&](const redisReply* r) { seen.push_back("get " + reply_text(r)); });
    send(*conn.c, {"GET", "missing"}, [&](const redisReply* r) { seen.push_back("get " + reply_text(r)); });
    send(*conn.c, {"NOSUCHCOMMAND"},
         [&](const redisReply* r) { seen.push_back(r && r->type == REDIS_REPLY_ERROR ? "error" : "not an error"); });
    CHECK(conn.c->pending() == 5);
    REQUIRE(loop.run_until([&] { return seen.size() == 5; }));
    CHECK(seen == std::vector<std::string>{"set OK", "incr 2", "get 2", "get (nil)", "error"});
    CHECK(conn.c->pending() == 0);

    // Binary-safe arguments: a value with NUL and CR LF bytes comes back as it went.
    const std::string binary("a\0b\r\nc", 6);
    Result set, get;
    send(*conn.c, {"SET", "bin", binary}, set.handler());
    send(*conn.c, {"GET", "bin"}, get.handler());
    REQUIRE(loop.run_until([&] { return get.calls == 1; }));
    CHECK(get.text == binary);
    CHECK(redis.cli({"GET", "bin"}) == binary);
}

TEST_CASE("a pipeline of 10,000 commands: every handler called exactly once, in order") {
    RedisServer redis;
    TestLoop loop;
    Conn conn(loop, address_of(redis));
    REQUIRE(conn.start_and_wait_up());

    constexpr int n = 10'000;
    std::vector<int> calls(n, 0);
    std::vector<long long> values(n, 0);
    int answered = 0, out_of_order = 0;
    for (int i = 0; i < n; ++i)
        send(*conn.c, {"INCR", "counter"}, [&, i](const redisReply* r) {
            ++calls[i];
            values[i] = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
            if (i != answered) ++out_of_order;
            ++answered;
        });
    CHECK(conn.c->pending() == std::size_t(n));
    REQUIRE(loop.run_until([&] { return answered == n; }, 20000));
    loop.run_for(50); // nothing more arrives
    CHECK(answered == n);
    CHECK(out_of_order == 0);
    int not_once = 0, wrong_value = 0;
    for (int i = 0; i < n; ++i) {
        if (calls[i] != 1) ++not_once;
        if (values[i] != i + 1) ++wrong_value;
    }
    CHECK(not_once == 0);
    CHECK(wrong_value == 0);
    CHECK(redis.cli({"GET", "counter"}) == std::to_string(n));
}

TEST_CASE("a reply far larger than hiredis's read chunk arrives whole (the fd is level-triggered)") {
    RedisServer redis;
    TestLoop loop;
    Conn conn(loop, address_of(redis));
    REQUIRE(conn.start_and_wait_up());
    const std::string big(2 << 20, 'x'); // 2 MiB: 128 chunks of 16 KiB
    Result set, get;
    send(*conn.c, {"SET", "big", big}, set.handler());
    send(*conn.c, {"GET", "big"}, get.handler());
    REQUIRE(loop.run_until([&] { return get.calls == 1; }, 10000));
    CHECK(set.text == "OK");
    REQUIRE(get.text);
    CHECK(get.text->size() == big.size());
    CHECK(*get.text == big);
}

TEST_CASE("pub/sub: messages on the subscribed channels reach the handler, in order") {
    RedisServer redis;
    TestLoop loop;
    Conn sub(loop, address_of(redis), 1);
    Conn pub(loop, address_of(redis), 2);
    std::vector<std::string> got;
    sub.c->subscribe({"confab:all", "confab:node:a"}, [&](std::string_view channel, std::string_view payload) {
        got.push_back(std::string(channel) + "=" + std::string(payload));
    });
    REQUIRE(sub.start_and_wait_up());
    REQUIRE(pub.start_and_wait_up());
    CHECK(redis.cli({"PUBSUB", "NUMSUB", "confab:all"}) == "confab:all\n1");

    Result r1, r2, r3;
    send(*pub.c, {"PUBLISH", "confab:all", "one"}, r1.handler());
    send(*pub.c, {"PUBLISH", "confab:node:b", "not subscribed"}, r2.handler());
    send(*pub.c, {"PUBLISH", "confab:node:a", std::string_view("t\0o", 3)}, r3.handler());
    REQUIRE(loop.run_until([&] { return got.size() == 2 && r3.calls == 1; }));
    CHECK(r1.text == "1"); // PUBLISH's reply: how many subscribers got it
    CHECK(r2.text == "0");
    CHECK(got == std::vector<std::string>{"confab:all=one", std::string("confab:node:a=t\0o", 17)});

    // Commands are refused on a pub/sub connection: the handler runs at once, with null.
    Result refused;
    send(*sub.c, {"PING"}, refused.handler());
    CHECK(refused.calls == 1);
    CHECK(!refused.text);

    // Subscribing to one more channel while up.
    sub.c->subscribe({"confab:extra"}, [&](std::string_view channel, std::string_view payload) {
        got.push_back(std::string(channel) + "=" + std::string(payload));
    });
    REQUIRE(loop.run_until([&] { return redis.cli({"PUBSUB", "NUMSUB", "confab:extra"}) == "confab:extra\n1"; }));
    send(*pub.c, {"PUBLISH", "confab:extra", "three"}, r1.handler());
    REQUIRE(loop.run_until([&] { return got.size() == 3; }));
    CHECK(got.back() == "confab:extra=three");
}

TEST_CASE("AUTH: the right password (alone, or with an ACL user) gets up; a wrong one reports down with the reason") {
    SUBCASE("requirepass") {
        RedisServer redis(options(false, "s3cret"));
        TestLoop loop;
        Conn good(loop, address_of(redis), 1);
        REQUIRE(good.start_and_wait_up());
        Result r;
        send(*good.c, {"SET", "a", "b"}, r.handler());
        REQUIRE(loop.run_until([&] { return r.calls == 1; }));
        CHECK(r.text == "OK");

        RedisAddress wrong = address_of(redis);
        wrong.password = "guess";
        Conn bad(loop, wrong, 2);
        bad.c->start();
        REQUIRE(loop.run_until([&] { return bad.log.downs >= 1; }));
        CHECK(bad.log.ups == 0);
        CHECK(!bad.c->up());
        CHECK(bad.log.last_down.find("AUTH") != std::string::npos);
        CHECK(bad.log.last_down.find("WRONGPASS") != std::string::npos);

        RedisAddress none = address_of(redis);
        none.password.clear();
        Conn anonymous(loop, none, 3);
        anonymous.c->start();
        REQUIRE(loop.run_until([&] { return anonymous.log.downs >= 1; }));
        CHECK(anonymous.log.last_down.find("NOAUTH") != std::string::npos);
        // It keeps retrying, with backoff, and keeps failing.
        REQUIRE(loop.run_until([&] { return bad.log.downs >= 3; }));
        CHECK(bad.log.ups == 0);
    }
    SUBCASE("ACL user and password") {
        RedisServer redis(options(false, "pw", "confab"));
        TestLoop loop;
        Conn good(loop, address_of(redis), 1);
        REQUIRE(good.start_and_wait_up());
        Result who;
        send(*good.c, {"ACL", "WHOAMI"}, who.handler());
        REQUIRE(loop.run_until([&] { return who.calls == 1; }));
        CHECK(who.text == "confab");

        RedisAddress wrong = address_of(redis);
        wrong.user = "someone";
        Conn bad(loop, wrong, 2);
        bad.c->start();
        REQUIRE(loop.run_until([&] { return bad.log.downs >= 1; }));
        CHECK(bad.log.ups == 0);
        CHECK(bad.log.last_down.find("WRONGPASS") != std::string::npos);
    }
}

TEST_CASE("Redis killed: pending handlers get null, down fires; after the restart it reconnects and subscribes again") {
    RedisServer redis(options(true));
    TestLoop loop;
    Conn cmd(loop, address_of(redis), 1);
    Conn sub(loop, address_of(redis), 2);
    std::vector<std::string> got;
    sub.c->subscribe({"confab:all"}, [&](std::string_view, std::string_view payload) { got.emplace_back(payload); });
    REQUIRE(cmd.start_and_wait_up());
    REQUIRE(sub.start_and_wait_up());

    Result stored;
    send(*cmd.c, {"SET", "kept", "yes"}, stored.handler());
    REQUIRE(loop.run_until([&] { return stored.calls == 1; }));

    // Commands in flight when Redis dies: a blocking one that cannot be answered first.
    std::vector<Result> inflight(50);
    send(*cmd.c, {"BLPOP", "nothing", "0"}, inflight[0].handler());
    for (std::size_t i = 1; i < inflight.size(); ++i) send(*cmd.c, {"PING"}, inflight[i].handler());
    loop.run_for(50);
    redis.kill();
    REQUIRE(loop.run_until([&] { return cmd.log.downs >= 1 && sub.log.downs >= 1; }));
    int null_once = 0;
    for (auto& r : inflight)
        if (r.calls == 1 && !r.text) ++null_once;
    CHECK(null_once == int(inflight.size()));
    CHECK(!cmd.c->up());
    CHECK(cmd.c->pending() == 0);
    Result while_down;
    send(*cmd.c, {"PING"}, while_down.handler());
    CHECK(while_down.calls == 1); // at once, with null
    CHECK(!while_down.text);

    loop.run_for(300); // a few failed attempts meanwhile
    CHECK(cmd.log.ups == 1);
    redis.start();
    REQUIRE(loop.run_until([&] { return cmd.c->up() && sub.c->up(); }, 10000));
    CHECK(cmd.log.ups == 2);
    CHECK(sub.log.ups == 2);
    for (auto& r : inflight) CHECK(r.calls == 1); // never called again

    Result kept, published;
    send(*cmd.c, {"GET", "kept"}, kept.handler());
    send(*cmd.c, {"PUBLISH", "confab:all", "after restart"}, published.handler());
    REQUIRE(loop.run_until([&] { return got.size() == 1 && published.calls == 1; }));
    CHECK(kept.text == "yes"); // appendfsync always: an acknowledged write survives SIGKILL
    CHECK(published.text == "1");
    CHECK(got == std::vector<std::string>{"after restart"});
}

TEST_CASE("Redis stopped while connected: commands time out; a connect that Redis does not answer is dropped") {
    RedisServer redis;
    TestLoop loop;
    RedisTimings timings;
    timings.command_timeout_ms = 400;
    Conn conn(loop, address_of(redis), 1, timings);
    REQUIRE(conn.start_and_wait_up());

    redis.pause();
    Result r;
    const TimePoint sent = monotonic_ms();
    send(*conn.c, {"PING"}, r.handler());
    REQUIRE(loop.run_until([&] { return r.calls == 1; }, 3000));
    const TimePoint waited = monotonic_ms() - sent;
    CHECK(!r.text);
    CHECK(waited >= 400);
    CHECK(waited < 1500);
    CHECK(conn.log.downs == 1);
    CHECK(conn.log.last_down.find("no reply") != std::string::npos);

    // The kernel still accepts connections for the stopped server, but nothing answers
    // the PING: the attempt is dropped after connect_timeout_ms (2 s).
    const TimePoint retrying = monotonic_ms();
    REQUIRE(loop.run_until([&] { return conn.log.downs == 2; }, 5000));
    CHECK(monotonic_ms() - retrying >= 2000);
    CHECK(conn.log.last_down.find("no answer within 2000 ms") != std::string::npos);
    CHECK(conn.log.ups == 1);

    redis.resume();
    REQUIRE(loop.run_until([&] { return conn.c->up(); }, 10000));
    Result again;
    send(*conn.c, {"PING"}, again.handler());
    REQUIRE(loop.run_until([&] { return again.calls == 1; }));
    CHECK(again.text == "PONG");
}

TEST_CASE("max_pending: the command over the bound fails at once; the others are answered") {
    RedisServer redis;
    TestLoop loop;
    Conn conn(loop, address_of(redis));
    REQUIRE(conn.start_and_wait_up());
    const std::size_t n = RedisConnection::max_pending;
    std::size_t ok = 0, failed = 0;
    for (std::size_t i = 0; i < n; ++i) send(*conn.c, {"PING"}, [&](const redisReply* r) { ++(r ? ok : failed); });
    CHECK(conn.c->pending() == n);
    Result over;
    send(*conn.c, {"PING"}, over.handler());
    CHECK(over.calls == 1); // before command() returned
    CHECK(!over.text);
    CHECK(conn.c->pending() == n);
    REQUIRE(loop.run_until([&] { return ok + failed == n; }, 30000));
    CHECK(ok == n);
    Result after;
    send(*conn.c, {"PING"}, after.handler());
    REQUIRE(loop.run_until([&] { return after.calls == 1; }));
    CHECK(after.text == "PONG");
}

TEST_CASE("destruction: pending handlers get null once, no hook fires, no fd stays open") {
    RedisServer redis;
    TestLoop loop;
    const std::size_t fds_before = open_fds();
    std::vector<Result> results(100);
    int downs = 0;
    {
        Conn conn(loop, address_of(redis));
        REQUIRE(conn.start_and_wait_up());
        CHECK(open_fds() == fds_before + 1);
        for (auto& r : results) send(*conn.c, {"PING"}, r.handler());
        conn.destroy();
        downs = conn.log.downs;
    }
    int null_once = 0;
    for (auto& r : results)
        if (r.calls == 1 && !r.text) ++null_once;
    CHECK(null_once == 100);
    CHECK(downs == 0);
    CHECK(open_fds() == fds_before);

    // The same with the connection never up (Redis paused), and while waiting to retry.
    redis.pause();
    {
        Conn conn(loop, address_of(redis));
        conn.c->start();
        loop.run_for(50);
    }
    CHECK(open_fds() == fds_before);
    redis.resume();
    redis.kill();
    {
        Conn conn(loop, address_of(redis));
        conn.c->start();
        REQUIRE(loop.run_until([&] { return conn.log.downs >= 1; }));
    }
    CHECK(open_fds() == fds_before);
}

TEST_CASE("a handler may destroy its connection or send more commands") {
    RedisServer redis;
    TestLoop loop;
    const std::size_t fds_before = open_fds();
    auto conn = std::make_unique<Conn>(loop, address_of(redis));
    REQUIRE(conn->start_and_wait_up());

    // Chained commands from inside handlers.
    int chain = 0;
    std::function<void(const redisReply*)> next = [&](const redisReply* r) {
        if (!r) return;
        if (++chain < 100) send(*conn->c, {"INCR", "chain"}, next);
    };
    send(*conn->c, {"INCR", "chain"}, next);
    REQUIRE(loop.run_until([&] { return chain == 100; }));
    CHECK(redis.cli({"GET", "chain"}) == "100");

    // The 10th of 100 pipelined handlers destroys the connection: the other 90 run once, with null.
    std::vector<int> calls(100, 0);
    int with_reply = 0, null = 0;
    for (int i = 0; i < 100; ++i)
        send(*conn->c, {"PING"}, [&, i](const redisReply* r) {
            ++calls[i];
            ++(r ? with_reply : null);
            if (i == 9) conn.reset();
        });
    REQUIRE(loop.run_until([&] { return with_reply + null == 100; }));
    loop.run_for(50);
    CHECK(!conn);
    CHECK(with_reply == 10);
    CHECK(null == 90);
    int not_once = 0;
    for (int c : calls)
        if (c != 1) ++not_once;
    CHECK(not_once == 0);
    CHECK(open_fds() == fds_before);

    // The down hook may destroy its connection too.
    std::unique_ptr<RedisConnection> doomed;
    bool destroyed = false;
    doomed =
        std::make_unique<RedisConnection>(loop, 2, address_of(redis), RedisConnection::Hooks{{}, [&](std::string_view) {
                                                                                                 loop.forget(2);
                                                                                                 doomed.reset();
                                                                                                 destroyed = true;
                                                                                             }});
    loop.add(*doomed, 2);
    doomed->start();
    REQUIRE(loop.run_until([&] { return doomed->up(); }));
    redis.kill();
    REQUIRE(loop.run_until([&] { return destroyed; }));
    CHECK(!doomed);
    CHECK(open_fds() == fds_before);
}

TEST_CASE("a unix socket path connects too; a command before up fails at once") {
    RedisServer redis;
    TestLoop loop;
    RedisAddress a;
    a.unix_path = redis.unix_path();
    CHECK(a.describe() == redis.unix_path());
    Conn conn(loop, a);
    Result early;
    send(*conn.c, {"PING"}, early.handler());
    CHECK(early.calls == 1);
    CHECK(!early.text);
    REQUIRE(conn.start_and_wait_up());
    Result r;
    send(*conn.c, {"PING"}, r.handler());
    REQUIRE(loop.run_until([&] { return r.calls == 1; }));
    CHECK(r.text == "PONG");
}

TEST_CASE("flush() writes the queued commands without waiting for writability; before up it does nothing") {
    RedisServer redis;
    TestLoop loop;
    Conn conn(loop, address_of(redis));
    conn.c->start();
    conn.c->flush(); // connecting: hiredis learns of the connect from writability, not from this
    REQUIRE(loop.run_until([&] {
        conn.c->flush();
        return conn.c->up();
    }));

    loop.serve_writable = false;
    Result unflushed;
    send(*conn.c, {"PING"}, unflushed.handler());
    loop.run_for(200);
    CHECK(unflushed.calls == 0); // nothing wrote it

    Result a, b;
    send(*conn.c, {"SET", "flushed", "1"}, a.handler());
    send(*conn.c, {"GET", "flushed"}, b.handler());
    conn.c->flush();
    REQUIRE(loop.run_until([&] { return b.calls == 1; }));
    CHECK(unflushed.text == "PONG");
    CHECK(a.text == "OK");
    CHECK(b.text == "1");

    // More than the socket takes at once: flush() writes what fits, writability the rest.
    const std::string big(4 << 20, 'x');
    Result set_big, strlen_big;
    send(*conn.c, {"SET", "big", big}, set_big.handler());
    send(*conn.c, {"STRLEN", "big"}, strlen_big.handler());
    conn.c->flush();
    loop.serve_writable = true;
    REQUIRE(loop.run_until([&] { return strlen_big.calls == 1; }, 10000));
    CHECK(set_big.text == "OK");
    CHECK(strlen_big.text == std::to_string(big.size()));
}

TEST_CASE("through the daemon's glue: Reactor + TimerQueue + TimerFd, tokens in their range, reconnect") {
    RedisServer redis;
    Reactor reactor;
    TimerQueue timers;
    TimerFd timer_fd;
    constexpr std::uint64_t timer_token = 2;
    reactor.add(timer_fd.fd(), timer_token, EPOLLIN | EPOLLET);
    const std::size_t fds_before = open_fds();
    auto glue = std::make_unique<ReactorRedisLoop>(reactor, timers);
    HookLog log;
    RedisConnection& conn = glue->connect(address_of(redis), log.hooks());
    conn.start();

    int foreign_tokens = 0;
    auto run_until = [&](const std::function<bool()>& done, std::int64_t limit_ms = 5000) {
        const TimePoint deadline = monotonic_ms() + limit_ms;
        while (!done()) {
            if (monotonic_ms() >= deadline) return false;
            timer_fd.arm(timers.next_deadline());
            for (const epoll_event& ev : reactor.wait(10)) {
                if (ev.data.u64 == timer_token) {
                    timer_fd.drain();
                } else if (ReactorRedisLoop::is_token(ev.data.u64)) {
                    glue->on_event(ev.data.u64, ev.events);
                } else {
                    ++foreign_tokens;
                }
            }
            for (TimerQueue::Key key : timers.expire(monotonic_ms())) {
                if (timer_kind(key) == TimerKind::redis_retry)
                    glue->on_timer(timer_id(key));
                else
                    ++foreign_tokens;
            }
        }
        return true;
    };
    REQUIRE(run_until([&] { return conn.up(); }));
    constexpr int n = 2000;
    int answered = 0;
    for (int i = 0; i < n; ++i) send(conn, {"INCR", "glue"}, [&](const redisReply* r) { answered += r ? 1 : 0; });
    REQUIRE(run_until([&] { return answered == n; }, 10000));

    redis.kill();
    REQUIRE(run_until([&] { return log.downs >= 1; }));
    redis.start();
    REQUIRE(run_until([&] { return conn.up(); }, 10000));
    CHECK(log.ups == 2);
    Result r;
    send(conn, {"PING"}, r.handler());
    REQUIRE(run_until([&] { return r.calls == 1; }));
    CHECK(r.text == "PONG");
    CHECK(foreign_tokens == 0);

    // A closed connection's token serves the next one.
    glue->close(conn);
    CHECK(open_fds() == fds_before);
    RedisConnection& second = glue->connect(address_of(redis), {});
    second.start();
    REQUIRE(run_until([&] { return second.up(); }));
    glue.reset();
    CHECK(open_fds() == fds_before);
    CHECK(timers.size() == 0);
}
