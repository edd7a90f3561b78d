// The Redis engine's pieces against a real redis-server, without a chat core:
// RedisEngine (claims, presence, routing, snapshots, node-down detection and
// the clean-up after it, Redis going away), RedisMailbox (deposit scripts,
// delivery order, acknowledgement) and RedisStore (writes read back by load).
// Each node runs the daemon's own glue: Reactor + TimerQueue + ReactorRedisLoop.
#include "cluster/event_codec.hpp"
#include "cluster/keys.hpp"
#include "cluster/reactor_redis_loop.hpp"
#include "cluster/redis_engine.hpp"
#include "cluster/redis_mailbox.hpp"
#include "cluster/redis_store.hpp"
#include "core/clock.hpp"
#include "core/timer_key.hpp"
#include "redis_server.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace confab;
using namespace confab::test;

namespace {

RedisAddress address_of(const RedisServer& redis) {
    RedisAddress a;
    a.host = "127.0.0.1";
    a.port = redis.port();
    a.user = redis.options().user;
    a.password = redis.options().password;
    return a;
}

// One node: the daemon's reactor glue around a RedisEngine, and what the engine told the "core".
struct Node final : ClusterEvents {
    Node(const RedisServer& redis, std::string id, bool prepare = true,
         std::size_t max_buffered = RedisEngine::max_buffered_events, RedisTimings timings = {})
        : address(address_of(redis)) {
        RedisEngine::Timers t{
            [this](std::int64_t ms) { timers.arm(timer_key(TimerKind::cluster_heartbeat, 0), monotonic_ms() + ms); },
            [this](std::int64_t ms) { timers.arm(timer_key(TimerKind::cluster_liveness, 0), monotonic_ms() + ms); }};
        engine = std::make_unique<RedisEngine>(
            [this, timings](RedisConnection::Hooks h) -> RedisConnection& {
                return loop.connect(address, std::move(h), timings);
            },
            std::move(id), *this, std::move(t), max_buffered);
        engine->set_names({"alice", "bob", "carol"});
        if (prepare) {
            RedisSync sync(address);
            engine->prepare(sync);
        }
    }
    void start() { engine->start(); }

    // ClusterEvents: the engine must never call back while the core is calling in.
    void on_claimed(std::uint64_t tag, cluster::Claim r) override {
        CHECK(!calling);
        claims[tag] = r;
    }
    void on_routed(std::uint64_t tag, bool delivered) override {
        CHECK(!calling);
        routes[tag] = delivered;
    }
    void on_flushed(std::uint64_t tag, bool ok) override {
        CHECK(!calling);
        flushes[tag] = ok;
    }
    void on_cluster_event(const cluster::Event& e) override { events.push_back(e); }
    void on_cluster_available(bool up) override { availability.push_back(up); }

    void turn(int wait_ms = 5) {
        for (const epoll_event& ev : reactor.wait(wait_ms))
            if (ReactorRedisLoop::is_token(ev.data.u64)) loop.on_event(ev.data.u64, ev.events);
        for (TimerQueue::Key key : timers.expire(monotonic_ms())) {
            switch (timer_kind(key)) {
            case TimerKind::redis_retry: loop.on_timer(timer_id(key)); break;
            case TimerKind::cluster_heartbeat:
                if (heartbeats) engine->on_heartbeat_timer();
                break;
            case TimerKind::cluster_liveness: engine->on_liveness_timer(); break;
            default: break;
            }
        }
        engine->deliver_deferred();
        engine->send_batched();
    }
    std::optional<cluster::Claim> claim(std::uint64_t tag, std::string_view name) {
        calling = true;
        engine->claim(tag, name);
        calling = false;
        return claims.contains(tag) ? std::optional(claims[tag]) : std::nullopt;
    }
    template <class E>
    std::vector<E> seen() const {
        std::vector<E> out;
        for (const auto& e : events)
            if (const E* x = std::get_if<E>(&e)) out.push_back(*x);
        return out;
    }

    RedisAddress address;
    Reactor reactor;
    TimerQueue timers;
    ReactorRedisLoop loop{reactor, timers};
    std::unique_ptr<RedisEngine> engine;
    std::map<std::uint64_t, cluster::Claim> claims;
    std::map<std::uint64_t, bool> routes;
    std::map<std::uint64_t, bool> flushes;
    std::vector<cluster::Event> events;
    std::vector<bool> availability;
    bool calling = false;
    bool heartbeats = true; // false: the heartbeat timer is ignored (a test counting the commands sent)
};

// Turns every node until `done` holds or `limit_ms` pass.
bool run_until(std::initializer_list<Node*> nodes, const std::function<bool()>& done, std::int64_t limit_ms = 5000) {
    const TimePoint deadline = monotonic_ms() + limit_ms;
    while (!done()) {
        if (monotonic_ms() >= deadline) return false;
        for (Node* n : nodes) n->turn();
    }
    return true;
}

bool available(Node& n) {
    return n.engine->available();
}

// How often Redis ran `command` (INFO commandstats), and how many NOSCRIPT errors it answered.
long command_calls(const RedisServer& redis, std::string_view command) {
    const std::string stats = redis.cli({"INFO", "commandstats"});
    const std::string key = fmt::format("cmdstat_{}:calls=", command);
    const auto at = stats.find(key);
    return at == std::string::npos ? 0 : std::stol(stats.substr(at + key.size()));
}
long noscript_errors(const RedisServer& redis) {
    const std::string stats = redis.cli({"INFO", "errorstats"});
    const std::string key = "errorstat_NOSCRIPT:count=";
    const auto at = stats.find(key);
    return at == std::string::npos ? 0 : std::stol(stats.substr(at + key.size()));
}
} // namespace

TEST_CASE("two engines: one session per name, presence, routing, snapshots") {
    RedisServer redis;
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
    CHECK(a.availability == std::vector<bool>{true});
    CHECK(a.seen<cluster::Snapshot>().size() == 1);
    CHECK(a.engine->node_ordinal() != b.engine->node_ordinal());

    // A claim is answered later, never inside claim(); the second holder is refused.
    CHECK_FALSE(a.claim(1, "alice"));
    REQUIRE(run_until({&a, &b}, [&] { return a.claims.contains(1); }));
    CHECK(a.claims[1] == cluster::Claim::claimed);
    b.claim(2, "alice");
    REQUIRE(run_until({&a, &b}, [&] { return b.claims.contains(2); }));
    CHECK(b.claims[2] == cluster::Claim::taken);
    // A name this node holds, claimed again (after a reconnect): still this node's.
    a.claim(3, "alice");
    REQUIRE(run_until({&a, &b}, [&] { return a.claims.contains(3); }));
    CHECK(a.claims[3] == cluster::Claim::claimed);

    // Presence reaches the other node, not the sender; the users hash has it.
    a.engine->publish(cluster::Online{"alice", "node-a", 1000, "127.0.0.1", 4000, ""});
    REQUIRE(run_until({&a, &b}, [&] { return !b.seen<cluster::Online>().empty(); }));
    CHECK(b.seen<cluster::Online>()[0].name == "alice");
    CHECK(a.seen<cluster::Online>().empty());
    CHECK(redis.cli({"HGET", cluster::keys::node_users_of("node-a", "alice"), "alice"}) == "1000 127.0.0.1 4000");
    CHECK(redis.cli({"HGET", cluster::keys::user("alice"), std::string(cluster::keys::session_field)}) == "node-a");

    // Routing: delivered to a listening node, not to one that does not exist.
    a.engine->send_to("node-b", 7, cluster::Direct{"bob", "alice", 42, 1000, "hi", "node-a", 7});
    a.engine->send_to("node-gone", 8, cluster::Direct{"bob", "alice", 43, 1000, "hi", "node-a", 8});
    REQUIRE(run_until({&a, &b}, [&] { return a.routes.size() == 2 && !b.seen<cluster::Direct>().empty(); }));
    CHECK(a.routes[7] == true);
    CHECK(a.routes[8] == false);
    CHECK(b.seen<cluster::Direct>()[0].text == "hi");

    // Without a private-chat listener the presence entry is the login time alone.
    b.claim(4, "bob");
    b.engine->publish(cluster::Online{"bob", "node-b", 2000, "192.0.2.9", 0, ""});
    REQUIRE(run_until({&a, &b}, [&] { return !a.seen<cluster::Online>().empty(); }));
    CHECK(redis.cli({"HGET", cluster::keys::node_users_of("node-b", "bob"), "bob"}) == "2000");

    // A third node's Snapshot has alice on node-a and bob on node-b, and bob's last-seen time.
    redis.cli({"HSET", cluster::keys::user("bob"), std::string(cluster::keys::seen_field), "1500"});
    Node c(redis, "node-c");
    c.start();
    REQUIRE(run_until({&a, &b, &c}, [&] { return available(c); }));
    auto snaps = c.seen<cluster::Snapshot>();
    REQUIRE(snaps.size() == 1);
    REQUIRE(snaps[0].online.size() == 2);
    auto online = snaps[0].online;
    std::sort(online.begin(), online.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
    CHECK(online[0].name == "alice");
    CHECK(online[0].node == "node-a");
    CHECK(online[0].at_wall_ms == 1000);
    CHECK(online[0].listen_host == "127.0.0.1");
    CHECK(online[0].listen_port == 4000);
    CHECK(online[1].name == "bob");
    CHECK(online[1].node == "node-b");
    CHECK(online[1].at_wall_ms == 2000);
    CHECK(online[1].listen_port == 0);
    CHECK(snaps[0].last_seen == std::vector<std::pair<std::string, std::int64_t>>{{"bob", 1500}});

    // Release + Offline: the name is free, the last-seen time stored and in the next Snapshot.
    a.engine->release("alice");
    a.engine->publish(cluster::Offline{"alice", "node-a", 5000});
    b.claim(9, "alice");
    REQUIRE(run_until({&a, &b, &c}, [&] { return b.claims.contains(9); }));
    CHECK(b.claims[9] == cluster::Claim::claimed);
    CHECK(redis.cli({"HGET", cluster::keys::user("alice"), std::string(cluster::keys::seen_field)}) == "5000");
    CHECK(redis.cli({"HGET", cluster::keys::user("alice"), std::string(cluster::keys::session_field)}) == "node-b");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_users_of("node-a", "alice")}) == "0");
}

TEST_CASE("a flush is answered once what was published before it is in the other nodes' sockets") {
    RedisServer redis;
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
    for (int round = 0; round < 20; ++round) {
        const std::string blocked = "user" + std::to_string(round);
        a.calling = true;
        a.engine->publish(cluster::BlockChanged{"alice", blocked, true});
        a.engine->flush(std::uint64_t(round + 1));
        a.calling = false;
        CHECK_FALSE(a.flushes.contains(std::uint64_t(round + 1))); // answered from the loop, never inside
        REQUIRE(run_until({&a}, [&] { return a.flushes.contains(std::uint64_t(round + 1)); }));
        CHECK(a.flushes[std::uint64_t(round + 1)]);
        // Redis wrote it to node b before it answered: b reads it in its next turn, without waiting.
        b.turn(0);
        auto seen = b.seen<cluster::BlockChanged>();
        REQUIRE(seen.size() == std::size_t(round + 1));
        CHECK(seen.back().blocked == blocked);
    }
    // The engine down: answered not ok, from the loop.
    redis.kill();
    REQUIRE(run_until({&a}, [&] { return !available(a); }));
    a.calling = true;
    a.engine->flush(99);
    a.calling = false;
    REQUIRE(run_until({&a}, [&] { return a.flushes.contains(99); }));
    CHECK_FALSE(a.flushes[99]);
}

TEST_CASE("the Directs of one turn go to their node in one PUBLISH, ahead of what is published after them") {
    RedisServer redis;
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b) && a.engine->idle(); }));
    b.events.clear(); // its Snapshot
    const long publishes = command_calls(redis, "publish");
    const auto direct = [](std::uint64_t tag, std::string text) {
        return cluster::Direct{"bob", "alice", tag, 1000, std::move(text), "node-a", tag};
    };
    a.calling = true;
    for (std::uint64_t tag = 1; tag <= 3; ++tag)
        a.engine->send_to("node-b", tag, direct(tag, "m" + std::to_string(tag)));
    a.engine->send_to("node-gone", 4, direct(4, "lost"));
    a.engine->send_to("node-gone", 5, direct(5, "lost"));
    a.engine->publish(cluster::Broadcast{"alice", "node-a", 1000, "after"}); // the messages go out first
    a.engine->send_to("node-b", 6, direct(6, "m6"));
    a.calling = false;
    CHECK(a.routes.empty()); // answered from the loop
    REQUIRE(run_until({&a, &b}, [&] { return a.routes.size() == 6 && b.events.size() == 3; }));
    for (std::uint64_t tag : {1, 2, 3, 6}) CHECK(a.routes[tag]);
    CHECK_FALSE(a.routes[4]); // one PUBLISH found no one listening: both messages are not delivered
    CHECK_FALSE(a.routes[5]);
    // The batch, the broadcast, the message sent after it: one PUBLISH each, and node-gone's batch.
    CHECK(command_calls(redis, "publish") == publishes + 4);
    CHECK(a.engine->counters().routed_not_delivered == 2);
    const auto* batch = std::get_if<cluster::Directs>(&b.events[0]);
    REQUIRE(batch);
    REQUIRE(batch->directs.size() == 3);
    CHECK(batch->directs[0].text == "m1");
    CHECK(batch->directs[2].text == "m3");
    CHECK(batch->directs[2].reply_tag == 3);
    REQUIRE(std::holds_alternative<cluster::Broadcast>(b.events[1]));
    REQUIRE(std::holds_alternative<cluster::Direct>(b.events[2])); // alone in its turn: a plain Direct
    CHECK(std::get<cluster::Direct>(b.events[2]).text == "m6");

    // A full batch goes at once: by count, and by bytes (long texts); the order holds across them.
    b.events.clear();
    a.routes.clear();
    const std::size_t many = 2 * RedisEngine::max_batched + 10, long_ones = 100;
    a.calling = true;
    for (std::uint64_t tag = 1; tag <= many; ++tag) a.engine->send_to("node-b", tag, direct(tag, std::to_string(tag)));
    for (std::uint64_t tag = many + 1; tag <= many + long_ones; ++tag)
        a.engine->send_to("node-b", tag, direct(tag, std::string(1000, char('a' + tag % 26))));
    a.calling = false;
    std::size_t got = 0;
    REQUIRE(run_until({&a, &b}, [&] {
        got = 0;
        for (const auto& e : b.events)
            if (const auto* d = std::get_if<cluster::Directs>(&e)) got += d->directs.size();
        return a.routes.size() == many + long_ones && got == many + long_ones;
    }));
    std::uint64_t next = 1;
    for (const auto& e : b.events) {
        const auto& ds = std::get<cluster::Directs>(e).directs;
        CHECK(ds.size() <= RedisEngine::max_batched);
        std::size_t bytes = 0;
        for (const auto& d : ds) {
            CHECK(d.reply_tag == next++);
            bytes += *cluster::batched_size(d);
        }
        CHECK(bytes <= RedisEngine::max_batched_bytes);
    }
    CHECK(b.events.size() == 4); // 256 and 256 by count, then the long texts split by bytes
    for (const auto& [tag, delivered] : a.routes) CHECK(delivered);
}

TEST_CASE("a node that stops heartbeating is declared down and its sessions freed; a restart cleans up its own") {
    RedisServer redis;
    Node b(redis, "node-b");
    b.start();
    {
        Node a(redis, "node-a");
        a.start();
        REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
        a.claim(1, "alice");
        REQUIRE(run_until({&a, &b}, [&] { return a.claims.contains(1); }));
        a.engine->publish(cluster::Online{"alice", "node-a", 1000, "", 0, ""});
        REQUIRE(run_until({&a, &b}, [&] { return !b.seen<cluster::Online>().empty(); }));
    } // node-a is gone without leaving: like SIGKILL
    // Rather than wait 10 s for the alive key to expire, expire it now.
    redis.cli({"DEL", cluster::keys::node_alive("node-a")});
    REQUIRE(run_until(
        {&b}, [&] { return !b.seen<cluster::NodeDown>().empty(); }, 5000));
    CHECK(b.seen<cluster::NodeDown>()[0].node == "node-a");
    const std::string session(cluster::keys::session_field), seen(cluster::keys::seen_field);
    REQUIRE(run_until({&b}, [&] { return redis.cli({"HEXISTS", cluster::keys::user("alice"), session}) == "0"; }));
    REQUIRE(run_until({&b}, [&] {
        return redis.cli({"SISMEMBER", std::string(cluster::keys::nodes), "node-a"}) == "0";
    }));
    CHECK(redis.cli({"HEXISTS", cluster::keys::user("alice"), seen}) == "1");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_users_of("node-a", "alice")}) == "0");
    b.claim(2, "alice");
    REQUIRE(run_until({&b}, [&] { return b.claims.contains(2); }));
    CHECK(b.claims[2] == cluster::Claim::claimed);

    // A node restarted under its id ends what its earlier run left in Redis (and tells the others).
    redis.cli({"HSET", cluster::keys::user("carol"), session, "node-c"});
    redis.cli({"HSET", cluster::keys::node_users_of("node-c", "carol"), "carol", "1 h 7"});
    Node c(redis, "node-c");
    CHECK(redis.cli({"HEXISTS", cluster::keys::user("carol"), session}) == "0");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_users_of("node-c", "carol")}) == "0");
    CHECK(redis.cli({"HEXISTS", cluster::keys::user("carol"), seen}) == "1");
    REQUIRE(run_until({&b}, [&] { return !b.seen<cluster::Offline>().empty(); }));
    CHECK(b.seen<cluster::Offline>()[0].name == "carol");
}

TEST_CASE("Redis going away: unavailable at once (answered from the loop), back with a Snapshot") {
    RedisServer redis;
    Node a(redis, "node-a");
    a.start();
    REQUIRE(run_until({&a}, [&] { return available(a); }));
    a.claim(1, "alice");
    REQUIRE(run_until({&a}, [&] { return a.claims.contains(1); }));
    redis.stop();
    REQUIRE(run_until({&a}, [&] { return !available(a); }));
    CHECK(a.availability == std::vector<bool>{true, false});
    CHECK_FALSE(a.claim(2, "bob")); // not inside claim()
    a.engine->send_to("node-b", 3, cluster::Direct{"bob", "alice", 1, 1, "x", "node-a", 3});
    CHECK(a.routes.empty());
    a.turn();
    CHECK(a.claims[2] == cluster::Claim::unavailable);
    CHECK(a.routes[3] == false);
    // Answers to messages other nodes routed here cannot go either: counted, apart from routes.
    const std::uint64_t not_delivered = a.engine->counters().routed_not_delivered;
    a.engine->send_to("node-b", 0, cluster::DirectAnswer{7, proto::Status::ok, ""});
    a.engine->send_to("node-b", 0, cluster::DirectAnswer{8, proto::Status::blocked_by_recipient, "no"});
    a.turn();
    CHECK(a.engine->counters().answers_lost == 2);
    CHECK(a.engine->counters().routed_not_delivered == not_delivered);

    redis.start();
    REQUIRE(run_until(
        {&a}, [&] { return available(a); }, 15000));
    CHECK(a.availability == std::vector<bool>{true, false, true});
    CHECK(a.seen<cluster::Snapshot>().size() == 2);
    // The node is back in the node set, heartbeating.
    CHECK(redis.cli({"SISMEMBER", std::string(cluster::keys::nodes), "node-a"}) == "1");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_alive("node-a")}) == "1");
    // A restarted Redis has an empty script cache: the new connection sends the text first.
    a.claim(4, "carol");
    REQUIRE(run_until({&a}, [&] { return a.claims.contains(4); }));
    CHECK(a.claims[4] == cluster::Claim::claimed);
    CHECK(redis.cli({"INFO", "errorstats"}).find("NOSCRIPT") == std::string::npos);
}

TEST_CASE("a Redis still loading its data set is not taken for connected: the node is available once it has loaded") {
    RedisServerOptions o;
    o.aof = true;
    o.password = "engine-test"; // AUTH, unlike PING, is answered while Redis loads
    // Loading slowed down (Redis's own debug settings) and clients served between keys, so that
    // the node's connections come up while Redis still answers LOADING to everything else.
    o.extra_args = {
        "--rdbcompression", "no", "--key-load-delay", "50000", "--loading-process-events-interval-bytes", "1024"};
    RedisServer redis(o);
    // 20 keys of 2 KiB each in the append-only file's base (an RDB): about 1 s of loading.
    redis.cli({"EVAL", "for i = 1, 20 do redis.call('SET', 'pad' .. i, string.rep('x', 2048)) end", "0"});
    redis.cli({"BGREWRITEAOF"});
    for (int i = 0;
         i < 1000 && redis.cli({"INFO", "persistence"}).find("aof_rewrite_in_progress:0") == std::string::npos; ++i)
        std::this_thread::sleep_for(10ms);
    REQUIRE(redis.cli({"INFO", "persistence"}).find("aof_rewrite_in_progress:0") != std::string::npos);

    // Retries every 20-50 ms: the node tries many times while Redis loads.
    Node a(redis, "node-a", true, RedisEngine::max_buffered_events, RedisTimings{2000, 3000, 40, 50});
    a.start();
    REQUIRE(run_until({&a}, [&] { return available(a); }));
    redis.stop();
    REQUIRE(run_until({&a}, [&] { return !available(a); }));

    std::atomic<bool> loaded = false;
    std::thread starting([&] {
        try {
            redis.start(); // returns once Redis answers PING: it has loaded
        } catch (...) {}
        loaded = true;
    });
    const bool in_time = run_until(
        {&a}, [&] { return loaded.load(); }, 20000);
    starting.join();
    REQUIRE(in_time);
    REQUIRE(redis.running());
    CHECK(redis.log().find("Done loading RDB, keys loaded: 20") != std::string::npos);
    CHECK(run_until(
        {&a}, [&] { return available(a); }, 3000));
    CHECK(a.availability == std::vector<bool>{true, false, true});
    CHECK(redis.cli({"SISMEMBER", std::string(cluster::keys::nodes), "node-a"}) == "1");
}

TEST_CASE("a replica read that Redis refuses while the node stays connected is tried again") {
    RedisServer redis;
    Node a(redis, "node-a");
    // The ACL loses SMEMBERS, the Snapshot's first read: connected, but every read fails.
    redis.cli({"ACL", "SETUSER", "default", "-smembers"});
    a.start();
    CHECK_FALSE(run_until(
        {&a}, [&] { return available(a); }, 2500));
    redis.cli({"ACL", "SETUSER", "default", "+smembers"}); // the operator mends the ACL
    CHECK(run_until(
        {&a}, [&] { return available(a); }, 3000)); // the next liveness tick (1 s) reads again
    CHECK(a.availability == std::vector<bool>{true});
}

TEST_CASE("scripts go by their SHA1 once sent, and are sent again after SCRIPT FLUSH") {
    RedisServer redis;
    Node a(redis, "node-a");
    a.start();
    REQUIRE(run_until({&a}, [&] { return available(a) && a.engine->idle(); }));
    a.heartbeats = false; // its ordinal's slot is refreshed by a script too
    const long evals = command_calls(redis, "eval"), evalshas = command_calls(redis, "evalsha");
    const std::string session(cluster::keys::session_field);
    a.claim(1, "alice"); // the text, the first time on this connection
    a.claim(2, "bob");   // by its SHA1
    REQUIRE(run_until({&a}, [&] { return a.claims.size() == 2; }));
    CHECK(a.claims[1] == cluster::Claim::claimed);
    CHECK(a.claims[2] == cluster::Claim::claimed);
    CHECK(command_calls(redis, "eval") == evals + 1);
    CHECK(command_calls(redis, "evalsha") == evalshas + 1);

    // Redis forgets every script: the next calls meet NOSCRIPT and still do their work.
    redis.cli({"SCRIPT", "FLUSH"});
    a.claim(3, "carol");
    a.engine->release("alice");
    REQUIRE(run_until({&a}, [&] { return a.claims.contains(3) && a.engine->idle(); }));
    CHECK(a.claims[3] == cluster::Claim::claimed);
    CHECK(redis.cli({"HGET", cluster::keys::user("carol"), session}) == "node-a");
    CHECK(redis.cli({"HEXISTS", cluster::keys::user("alice"), session}) == "0");
    CHECK(noscript_errors(redis) >= 1);
    // bob is still node-a's: a second claim of his from another node is refused.
    Node b(redis, "node-b");
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(b); }));
    b.claim(4, "bob");
    REQUIRE(run_until({&a, &b}, [&] { return b.claims.contains(4); }));
    CHECK(b.claims[4] == cluster::Claim::taken);
}

TEST_CASE("leave(): this node's sessions, presence and membership are gone from Redis") {
    RedisServer redis;
    Node a(redis, "node-a");
    a.start();
    REQUIRE(run_until({&a}, [&] { return available(a); }));
    a.claim(1, "alice");
    REQUIRE(run_until({&a}, [&] { return a.claims.contains(1); }));
    a.engine->publish(cluster::Online{"alice", "node-a", 1000, "", 0, ""});
    REQUIRE(run_until({&a}, [&] { return a.engine->idle(); }));
    RedisSync sync(a.address);
    a.engine->leave(sync);
    CHECK(redis.cli({"HEXISTS", cluster::keys::user("alice"), std::string(cluster::keys::session_field)}) == "0");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_users_of("node-a", "alice")}) == "0");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_alive("node-a")}) == "0");
    CHECK(redis.cli({"SISMEMBER", std::string(cluster::keys::nodes), "node-a"}) == "0");
}

// ---------------------------------------------------------------- node ordinals

namespace {
std::string slot(std::uint32_t ordinal) {
    return cluster::keys::ordinal_slot(ordinal);
}
// Every slot but `except` held by a live node "node-x".
void hold_every_slot(const RedisServer& redis, std::optional<std::uint32_t> except = std::nullopt) {
    std::vector<std::string> mset{"MSET"};
    for (std::uint32_t n = 0; n < cluster::node_ordinals; ++n)
        if (n != except) mset.insert(mset.end(), {slot(n), "node-x"});
    redis.cli(mset);
}
} // namespace

TEST_CASE("node ordinals: two engines never share one, even when the start-up counter wraps") {
    RedisServer redis;
    const std::string counter(cluster::keys::node_ordinal);
    redis.cli({"SET", counter, "1023"});
    Node a(redis, "node-a"); // the counter's next value, 1024, starts the search at 0
    CHECK(a.engine->node_ordinal() == 0);
    CHECK(redis.cli({"GET", slot(0)}) == "node-a");
    const long ttl = std::stol(redis.cli({"PTTL", slot(0)}));
    CHECK(ttl > 0);
    CHECK(ttl <= RedisEngine::alive_ttl_ms);

    redis.cli({"SET", counter, "2047"}); // 2048 mod 1024 is 0 again: taken, so the next one
    Node b(redis, "node-b");
    CHECK(b.engine->node_ordinal() == 1);
    for (std::uint32_t n = 2; n <= 5; ++n) redis.cli({"SET", slot(n), "node-x", "PX", "60000"});
    redis.cli({"SET", counter, "3071"});
    Node c(redis, "node-c");
    CHECK(c.engine->node_ordinal() == 6);
    CHECK(redis.cli({"GET", slot(6)}) == "node-c");

    // The slot is refreshed with the heartbeat, and released by leave() (only by its holder).
    redis.cli({"PEXPIRE", slot(0), "4000"});
    a.start();
    REQUIRE(run_until({&a}, [&] { return std::stol(redis.cli({"PTTL", slot(0)})) > 5000; }));
    RedisSync sync(a.address);
    a.engine->leave(sync);
    CHECK(redis.cli({"EXISTS", slot(0)}) == "0");
    redis.cli({"SET", slot(1), "node-y"}); // b's, taken by another node meanwhile
    b.engine->leave(sync);
    CHECK(redis.cli({"GET", slot(1)}) == "node-y");
}

TEST_CASE("node ordinals: a restarted node id takes its own slot again, even with every other one held") {
    RedisServer redis;
    std::uint16_t first = 0;
    {
        Node a(redis, "node-a");
        first = a.engine->node_ordinal();
    } // gone without leave(), as after SIGKILL: its slot lives on until it expires
    hold_every_slot(redis, first);
    redis.cli({"SET", std::string(cluster::keys::node_ordinal), "500"});
    Node again(redis, "node-a");
    CHECK(again.engine->node_ordinal() == first);
    CHECK(redis.cli({"GET", slot(first)}) == "node-a");
}

TEST_CASE("node ordinals: with every one held by a live node, a node refuses to start") {
    RedisServer redis;
    hold_every_slot(redis);
    Node n(redis, "node-new", false);
    RedisSync sync(n.address);
    std::string error;
    try {
        n.engine->prepare(sync);
    } catch (const RedisError& e) { FAIL("a Redis error: " << e.what()); } catch (const std::runtime_error& e) {
        error = e.what();
    }
    CHECK_MESSAGE(error.find("node node-new cannot join: all 1024 node ordinals are held by live nodes") !=
                      std::string::npos,
                  error);
    CHECK(redis.cli({"SISMEMBER", std::string(cluster::keys::nodes), "node-new"}) == "0");
    CHECK(redis.cli({"EXISTS", cluster::keys::node_alive("node-new")}) == "0");
}

TEST_CASE("node ordinals: a slot taken while the node was cut off from Redis is given up for a free one") {
    RedisServer redis; // no AOF: a restart loses every key, as if the slot had expired meanwhile
    Node a(redis, "node-a");
    a.start();
    REQUIRE(run_until({&a}, [&] { return available(a); }));
    const std::uint16_t before = a.engine->node_ordinal();
    redis.stop();
    REQUIRE(run_until({&a}, [&] { return !available(a); }));
    redis.start();
    redis.cli({"SET", slot(before), "node-x"}); // a node that started meanwhile (a is not turned)
    REQUIRE(run_until(
        {&a}, [&] { return available(a) && a.engine->node_ordinal() != before; }, 15000));
    const std::uint16_t after = a.engine->node_ordinal();
    CHECK(redis.cli({"GET", slot(after)}) == "node-a");
    CHECK(redis.cli({"GET", slot(before)}) == "node-x");

    // Lost while connected (its heartbeat finds the slot another's), with no slot free: the node
    // keeps its ordinal, and takes the first one to come free.
    hold_every_slot(redis);
    const TimePoint heartbeat = monotonic_ms() + RedisEngine::heartbeat_ms + 500;
    run_until(
        {&a}, [&] { return monotonic_ms() >= heartbeat; }, RedisEngine::heartbeat_ms + 1000);
    CHECK(a.engine->node_ordinal() == after);
    const std::uint32_t freed = (after + 10) % cluster::node_ordinals;
    redis.cli({"DEL", slot(freed)});
    REQUIRE(run_until(
        {&a}, [&] { return a.engine->node_ordinal() == freed; }, RedisEngine::heartbeat_ms + 2000));
    CHECK(redis.cli({"GET", slot(freed)}) == "node-a");
}

// ---------------------------------------------------------------- RedisMailbox

namespace {

constexpr UserId alice = 0, bob = 1, carol = 2;

struct Directory final : UserDirectory {
    std::vector<std::string> names{"alice", "bob", "carol"};
    std::string_view name_of(UserId u) const override { return names.at(u); }
    std::optional<UserId> find(std::string_view name) const override {
        for (UserId u = 0; u < names.size(); ++u)
            if (names[u] == name) return u;
        return std::nullopt;
    }
};

struct Box final : MailboxEvents {
    struct Answer {
        std::uint32_t request;
        DepositResult outcome;
        std::string error;
        bool ok; // accepted: durable
    };
    explicit Box(Node& n, std::size_t capacity = 4)
        : node(n), mailbox(*this, directory, capacity, n.engine->commands(), *n.engine) {}
    void settled(UserId, const ReplyTo& reply, DepositResult outcome, std::string_view error) override {
        answers.push_back({reply.request, outcome, std::string(error), outcome == DepositResult::accepted});
    }
    bool deliver(UserId to, const StoredMessage& m) override {
        delivered.push_back({to, m.id, m.from, m.text});
        return !refuse_from || m.from != *refuse_from;
    }
    void online_on(std::string_view node, const Deposit& d, Now) override {
        sent_on.push_back({std::string(node), d.to, d.from, d.id, d.sent_at_ms, std::string(d.text), d.reply.request});
    }
    // `unreachable`: the node a route found not listening.
    DepositResult send(UserId from, UserId to, std::uint64_t id, std::string text, std::uint32_t request,
                       std::string_view unreachable = {}) {
        return mailbox.deposit(Deposit{to, from, directory.names[to], directory.names[from], id,
                                       1000 + std::int64_t(id), text, ReplyTo{1, request, {}, 0}, unreachable});
    }
    struct SentOn { // online_on(): not stored, for the recipient's node
        std::string node;
        UserId to, from;
        std::uint64_t id;
        std::int64_t sent_at_ms;
        std::string text;
        std::uint32_t request;
    };
    std::vector<SentOn> sent_on;
    struct Delivery {
        UserId to;
        std::uint64_t id;
        UserId from;
        std::string text;
    };
    Node& node;
    Directory directory;
    RedisMailbox mailbox;
    std::vector<Answer> answers;
    std::vector<Delivery> delivered;
    std::optional<UserId> refuse_from;
};

} // namespace

TEST_CASE("the Redis mailbox: stored only once Redis answered, delivered oldest first, acknowledged, bounded") {
    RedisServer redis;
    Node n(redis, "node-a");
    n.start();
    REQUIRE(run_until({&n}, [&] { return available(n); }));
    Box box(n, 4);

    CHECK(box.send(alice, bob, 10, "first", 1) == DepositResult::accepted);
    CHECK(box.answers.empty()); // not before Redis answered
    CHECK(box.mailbox.pending() == 1);
    CHECK(box.send(alice, bob, 11, "second", 2) == DepositResult::accepted);
    CHECK(box.send(alice, bob, 12, "third", 3) == DepositResult::accepted);
    REQUIRE(run_until({&n}, [&] { return box.answers.size() == 3; }));
    for (const auto& a : box.answers) CHECK(a.ok);
    CHECK(box.mailbox.pending() == 0);
    CHECK_FALSE(box.mailbox.held()); // the messages are in Redis: not counted here

    // The sender's share of a 4-message mailbox is 3: alice's fourth is refused, carol's first is not;
    // then the mailbox is full for everyone.
    box.answers.clear();
    box.send(alice, bob, 13, "over her share", 4);
    box.send(carol, bob, 14, "from carol", 5);
    box.send(carol, bob, 15, "over capacity", 6);
    REQUIRE(run_until({&n}, [&] { return box.answers.size() == 3; }));
    // Refused by the script, with the same reasons as the local mailbox's at once.
    CHECK(box.answers[0].outcome == DepositResult::sender_share_full);
    CHECK(box.answers[1].ok);
    CHECK(box.answers[2].outcome == DepositResult::mailbox_full);

    // At login: every message, oldest first.
    box.delivered.clear();
    box.mailbox.deliver_waiting(bob);
    REQUIRE(run_until({&n}, [&] { return box.delivered.size() == 4; }));
    std::vector<std::uint64_t> ids;
    for (const auto& d : box.delivered) ids.push_back(d.id);
    CHECK(ids == std::vector<std::uint64_t>{10, 11, 12, 14});
    CHECK(box.delivered[3].from == carol);
    CHECK(box.delivered[0].text == "first");

    // Acknowledged ones go (and free their senders' share); the rest come again.
    const std::uint64_t acked[] = {10, 14};
    box.mailbox.acknowledge(bob, acked);
    box.delivered.clear();
    box.mailbox.deliver_waiting(bob);
    REQUIRE(run_until({&n}, [&] { return box.delivered.size() == 2; }));
    CHECK(box.delivered[0].id == 11);
    CHECK(box.delivered[1].id == 12);
    CHECK(redis.cli({"HGET", cluster::keys::senders("bob"), "alice"}) == "2");
    CHECK(redis.cli({"HGET", cluster::keys::senders("bob"), "carol"}) == "(nil)");

    // A message the recipient is not to see (deliver() false) is acknowledged.
    box.refuse_from = alice;
    box.delivered.clear();
    box.mailbox.deliver_waiting(bob);
    REQUIRE(run_until({&n}, [&] { return box.delivered.size() == 2; }));
    REQUIRE(run_until({&n}, [&] { return redis.cli({"XLEN", cluster::keys::mailbox("bob")}) == "0"; }));

    // A user removed: their mailbox goes.
    box.refuse_from.reset();
    box.answers.clear();
    box.send(alice, carol, 20, "for carol", 7);
    REQUIRE(run_until({&n}, [&] { return box.answers.size() == 1; }));
    box.mailbox.forget_user(carol);
    REQUIRE(run_until({&n}, [&] { return redis.cli({"EXISTS", cluster::keys::mailbox("carol")}) == "0"; }));
}

TEST_CASE("the Redis mailbox stores nothing for a user logged in on another node: it names the node") {
    RedisServer redis;
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
    Box box(a);
    // bob's login on node b won its claim; node a has not heard of it and deposits.
    b.claim(1, "bob");
    REQUIRE(run_until({&a, &b}, [&] { return b.claims.contains(1); }));
    REQUIRE(b.claims[1] == cluster::Claim::claimed);
    CHECK(box.send(alice, bob, 10, "just logged in?", 1) == DepositResult::accepted);
    REQUIRE(run_until({&a, &b}, [&] { return box.sent_on.size() == 1; }));
    const auto& on = box.sent_on[0];
    CHECK(on.node == "node-b");
    CHECK(on.to == bob);
    CHECK(on.from == alice);
    CHECK(on.id == 10);
    CHECK(on.sent_at_ms == 1010);
    CHECK(on.text == "just logged in?");
    CHECK(on.request == 1);
    CHECK(box.answers.empty()); // nothing stored, so nothing settled
    CHECK(box.mailbox.pending() == 0);
    CHECK(redis.cli({"XLEN", cluster::keys::mailbox("bob")}) == "0");
    CHECK(redis.cli({"HGET", cluster::keys::senders("bob"), "alice"}) == "(nil)");

    // Stored all the same: for a session of the depositing node itself (a login it is still
    // announcing reads the mailbox after), and for one of the node a route just found gone.
    Box box_b(b);
    box_b.send(alice, bob, 11, "to node b's own", 2);
    box.send(alice, bob, 12, "node b is gone", 3, "node-b");
    REQUIRE(run_until({&a, &b}, [&] { return box.answers.size() == 1 && box_b.answers.size() == 1; }));
    CHECK(box.answers[0].ok);
    CHECK(box_b.answers[0].ok);
    CHECK(box.sent_on.size() == 1);
    CHECK(box_b.sent_on.empty());
    CHECK(redis.cli({"XLEN", cluster::keys::mailbox("bob")}) == "2");

    // Once the session is released, a deposit is stored again.
    b.engine->release("bob");
    REQUIRE(run_until({&a, &b}, [&] {
        return redis.cli({"HEXISTS", cluster::keys::user("bob"), std::string(cluster::keys::session_field)}) == "0";
    }));
    box.send(carol, bob, 13, "after the logout", 4);
    REQUIRE(run_until({&a, &b}, [&] { return box.answers.size() == 2; }));
    CHECK(box.answers[1].ok);
    CHECK(box.sent_on.size() == 1);
}

TEST_CASE("the Redis mailbox's scripts survive SCRIPT FLUSH") {
    RedisServer redis;
    Node n(redis, "node-a");
    n.start();
    REQUIRE(run_until({&n}, [&] { return available(n); }));
    n.heartbeats = false; // its script would meet a NOSCRIPT of its own
    Box box(n);
    box.send(alice, bob, 1, "one", 1);
    box.send(alice, bob, 2, "two", 2);
    REQUIRE(run_until({&n}, [&] { return box.answers.size() == 2; }));
    redis.cli({"SCRIPT", "FLUSH"});
    box.send(alice, bob, 3, "three", 3);
    REQUIRE(run_until({&n}, [&] { return box.answers.size() == 3; }));
    for (const auto& a : box.answers) CHECK(a.ok);
    CHECK(noscript_errors(redis) == 1);
    const std::uint64_t first[] = {1}, second[] = {2};
    box.mailbox.acknowledge(bob, first);
    REQUIRE(run_until({&n}, [&] { return n.engine->idle(); }));
    redis.cli({"SCRIPT", "FLUSH"});
    box.mailbox.acknowledge(bob, second);
    REQUIRE(run_until({&n}, [&] { return n.engine->idle(); }));
    CHECK(redis.cli({"XLEN", cluster::keys::mailbox("bob")}) == "1");
    CHECK(noscript_errors(redis) == 2);
}

TEST_CASE("the Redis mailbox refuses deposits as unavailable while Redis is away") {
    RedisServer redis;
    Node n(redis, "node-a");
    n.start();
    REQUIRE(run_until({&n}, [&] { return available(n); }));
    Box box(n);
    redis.stop();
    REQUIRE(run_until({&n}, [&] { return !available(n); }));
    CHECK(box.send(alice, bob, 1, "x", 1) == DepositResult::unavailable);
}

TEST_CASE("events beyond what is kept while the replica is read are counted, and the replica is read again") {
    RedisServer redis;
    Node a(redis, "node-a", true, 3), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));

    // Both lose their subscriber connection; a is stopped right after it is connected
    // again, before its replica is read, while five users log in on b.
    redis.cli({"CLIENT", "KILL", "TYPE", "pubsub"});
    REQUIRE(run_until({&a, &b}, [&] { return !available(a); }));
    REQUIRE(run_until({&a}, [&] { return a.engine->connected(); }));
    REQUIRE(run_until({&b}, [&] { return available(b); }));
    const std::vector<std::string> users{"alice", "bob", "carol", "dave", "erin"};
    for (const auto& u : users) b.engine->publish(cluster::Online{u, "node-b", 1000, "", 0, ""});
    REQUIRE(run_until({&b}, [&] { return b.engine->idle(); }));

    // a keeps 3 of the 5 and counts 2; once available it reads the replica again at once.
    REQUIRE(run_until({&a, &b}, [&] { return a.seen<cluster::Snapshot>().size() == 2; }));
    CHECK(a.engine->counters().events_dropped == 2);
    CHECK(a.seen<cluster::Online>().size() == 3);
    CHECK(available(a));
    // bob logs out while it is read again: the second read, whenever Redis answered it, says so.
    // So do alice's block of carol and frank's login from 192.0.2.9, heard meanwhile (not
    // stored: only what was heard has them).
    b.engine->publish(cluster::Offline{"bob", "node-b", 5000});
    b.engine->publish(cluster::BlockChanged{"alice", "carol", true});
    b.engine->publish(cluster::Online{"frank", "node-b", 6000, "", 0, "192.0.2.9"});
    REQUIRE(run_until({&b}, [&] { return b.engine->idle(); }));
    REQUIRE(run_until({&a, &b}, [&] { return a.seen<cluster::Snapshot>().size() == 3; }));
    CHECK(a.availability == std::vector<bool>{true, false, true}); // available throughout the second read
    CHECK_FALSE(a.seen<cluster::Snapshot>().back().reclaim);       // nothing was claimed again for it
    auto online = a.seen<cluster::Snapshot>().back().online;
    std::vector<std::string> names;
    for (const auto& o : online) names.push_back(o.name);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"alice", "carol", "dave", "erin", "frank"});
    REQUIRE(a.seen<cluster::Snapshot>().back().stored);
    CHECK(a.seen<cluster::Snapshot>().back().stored->state.blocks ==
          std::vector<std::pair<std::string, std::string>>{{"alice", "carol"}});
    const auto trusted = a.seen<cluster::Snapshot>().back().stored->state.trusted;
    REQUIRE_FALSE(trusted.empty()); // the most recent last, as the core reads them
    CHECK(trusted.back().name == "frank");
    CHECK(trusted.back().address == "192.0.2.9");
    CHECK(a.engine->counters().events_dropped == 2);
}

TEST_CASE("a node back from a cut claims its sessions again as it reads the replica: one taken meanwhile is named") {
    RedisServer redis;
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
    REQUIRE(a.seen<cluster::Snapshot>().back().reclaim); // nothing held yet: nothing taken
    CHECK(a.seen<cluster::Snapshot>().back().reclaim->taken.empty());
    const std::string session(cluster::keys::session_field);
    for (const std::string name : {"alice", "bob"}) {
        a.claim(name == "alice" ? 1 : 2, name);
        a.engine->publish(cluster::Online{name, "node-a", 1000, "", 0, ""});
    }
    REQUIRE(run_until({&a, &b}, [&] { return a.claims.size() == 2 && a.engine->idle(); }));

    // Both lose their subscriptions; a, not turned, hears nothing. b takes it for dead meanwhile
    // (its clean-up, done here by hand, released both names) and alice logs in on b.
    redis.cli({"CLIENT", "KILL", "TYPE", "pubsub"});
    redis.cli({"HDEL", cluster::keys::user("alice"), session});
    redis.cli({"HDEL", cluster::keys::user("bob"), session});
    REQUIRE(run_until({&b}, [&] { return b.availability.size() == 3 && available(b); }));
    b.claim(3, "alice");
    b.engine->publish(cluster::Online{"alice", "node-b", 2000, "", 0, ""});
    REQUIRE(run_until({&b}, [&] { return b.claims.contains(3) && b.engine->idle(); }));
    REQUIRE(b.claims[3] == cluster::Claim::claimed);

    REQUIRE(run_until(
        {&a, &b}, [&] { return a.availability.size() == 3 && available(a); }, 15000));
    const cluster::Snapshot snap = a.seen<cluster::Snapshot>().back();
    REQUIRE(snap.reclaim);
    CHECK(snap.reclaim->taken == std::vector<std::string>{"alice"});
    REQUIRE(snap.online.size() == 1); // read after the claims: alice where she is now
    CHECK(snap.online[0].name == "alice");
    CHECK(snap.online[0].node == "node-b");
    CHECK(redis.cli({"HGET", cluster::keys::user("bob"), session}) == "node-a"); // bob's is a's again
    CHECK(redis.cli({"HGET", cluster::keys::user("alice"), session}) == "node-b");
}

TEST_CASE("a logout made while Redis was away reaches it once the node is back: the name free, its presence gone") {
    RedisServerOptions o;
    o.aof = true; // what Redis acknowledged survives its restart: alice's session and presence on node-a
    RedisServer redis(o);
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
    a.claim(1, "alice");
    a.engine->publish(cluster::Online{"alice", "node-a", 1000, "", 0, ""});
    REQUIRE(run_until({&a, &b}, [&] { return a.claims.contains(1) && !b.seen<cluster::Online>().empty(); }));

    // Redis stops; alice logs out of node-a meanwhile (release, then Offline): nothing reaches it.
    redis.stop();
    REQUIRE(run_until({&a, &b}, [&] { return !available(a) && !available(b); }));
    a.engine->release("alice");
    a.engine->publish(cluster::Offline{"alice", "node-a", 5000});
    redis.start();
    REQUIRE(run_until(
        {&a, &b}, [&] { return available(a) && available(b) && a.engine->idle(); }, 15000));
    const std::string session(cluster::keys::session_field), seen(cluster::keys::seen_field);
    CHECK(redis.cli({"HEXISTS", cluster::keys::user("alice"), session}) == "0"); // free for any node
    CHECK(redis.cli({"HGET", cluster::keys::user("alice"), seen}) == "5000");
    CHECK(redis.cli({"HEXISTS", cluster::keys::node_users_of("node-a", "alice"), "alice"}) == "0");
    // node-b, back too, has her offline: its read did not find her, or it heard her logout after it.
    REQUIRE(run_until({&a, &b}, [&] {
        bool online = false;
        for (const auto& e : b.events) {
            if (const auto* snap = std::get_if<cluster::Snapshot>(&e))
                online = std::any_of(snap->online.begin(), snap->online.end(),
                                     [](const cluster::Online& on) { return on.name == "alice"; });
            else if (const auto* off = std::get_if<cluster::Offline>(&e); off && off->name == "alice")
                online = false;
        }
        return !online && b.seen<cluster::Snapshot>().size() == 2;
    }));
    b.claim(2, "alice");
    REQUIRE(run_until({&a, &b}, [&] { return b.claims.contains(2); }));
    CHECK(b.claims[2] == cluster::Claim::claimed);
}

TEST_CASE("blocks, locks and trusted addresses stored while a node could not hear are in its next Snapshot") {
    RedisServer redis;
    Node a(redis, "node-a"), b(redis, "node-b");
    a.start();
    b.start();
    REQUIRE(run_until({&a, &b}, [&] { return available(a) && available(b); }));
    RedisStore store(b.engine->commands());
    // Stored and published the way a core does: SetBlock/SetLock, then the event.
    const auto block = [&](std::string blocker, std::string blocked, bool on) {
        store.persist(store_op::SetBlock{blocker, blocked, on});
        b.engine->publish(cluster::BlockChanged{blocker, blocked, on});
    };
    block("carol", "alice", true);
    REQUIRE(run_until({&a, &b}, [&] { return a.seen<cluster::BlockChanged>().size() == 1; }));

    // Both lose their subscriptions; b, turned, is back at once, a (not turned) hears nothing.
    redis.cli({"CLIENT", "KILL", "TYPE", "pubsub"});
    REQUIRE(run_until({&b}, [&] { return b.availability.size() == 3 && available(b); }));
    block("alice", "bob", true);
    block("carol", "alice", false);
    store.persist(store_op::SetLock{"bob", INT64_MAX, true});
    b.engine->publish(cluster::Locked{"bob", INT64_MAX, true});
    store.persist(store_op::SetLock{"carol@192.0.2.0", 9'000'000'000'000});
    store.persist(store_op::SetTrustedAddress{"alice", "192.0.2.5", 1000});
    REQUIRE(run_until({&b}, [&] { return b.engine->idle(); }));

    REQUIRE(run_until(
        {&a, &b}, [&] { return a.availability.size() == 3 && available(a); }, 15000));
    CHECK(a.seen<cluster::BlockChanged>().size() == 1); // the events were missed ...
    CHECK(a.seen<cluster::Locked>().empty());
    const cluster::Snapshot snap = a.seen<cluster::Snapshot>().back(); // ... what they changed was read
    REQUIRE(snap.stored);
    CHECK(snap.stored->names == std::vector<std::string>{"alice", "bob", "carol"});
    CHECK(snap.stored->state.blocks == std::vector<std::pair<std::string, std::string>>{{"alice", "bob"}});
    CHECK(snap.stored->state.admin_locks == std::vector<std::pair<std::string, std::int64_t>>{{"bob", INT64_MAX}});
    CHECK(snap.stored->state.locks ==
          std::vector<std::pair<std::string, std::int64_t>>{{"carol@192.0.2.0", 9'000'000'000'000}});
    REQUIRE(snap.stored->state.trusted.size() == 1);
    CHECK(snap.stored->state.trusted[0].name == "alice");
    CHECK(snap.stored->state.trusted[0].address == "192.0.2.5");
}

// ---------------------------------------------------------------- RedisStore

TEST_CASE("the Redis store: blocks, locks and trusted addresses written, read back at start-up, forgotten") {
    RedisServer redis;
    Node n(redis, "node-a");
    n.start();
    REQUIRE(run_until({&n}, [&] { return available(n); }));
    RedisStore store(n.engine->commands());
    store.persist(store_op::SetBlock{"alice", "bob", true});
    store.persist(store_op::SetBlock{"alice", "carol", true});
    store.persist(store_op::SetBlock{"alice", "carol", false});
    store.persist(store_op::SetLock{"bob", 5000});
    store.persist(store_op::SetLock{"bob@192.0.2.0", 6000});
    store.persist(store_op::SetLock{"carol", INT64_MAX, true});
    store.persist(store_op::SetTrustedAddress{"alice", "192.0.2.1", 300});
    store.persist(store_op::SetTrustedAddress{"bob", "192.0.2.2", 100});
    store.persist(store_op::SetTrustedAddress{"alice", "192.0.2.3", 200});
    store.persist(store_op::SetTrustedAddress{"alice", "192.0.2.3", 0});
    REQUIRE(run_until({&n}, [&] { return n.engine->idle(); }));
    CHECK(store.failed_writes() == 0);

    RedisSync sync(n.address);
    const std::vector<std::string> names{"alice", "bob", "carol", "dave"};
    StoredState s = RedisStore::load(sync, names);
    CHECK(s.blocks == std::vector<std::pair<std::string, std::string>>{{"alice", "bob"}});
    auto locks = s.locks;
    std::sort(locks.begin(), locks.end());
    CHECK(locks == std::vector<std::pair<std::string, std::int64_t>>{{"bob", 5000}, {"bob@192.0.2.0", 6000}});
    CHECK(s.admin_locks == std::vector<std::pair<std::string, std::int64_t>>{{"carol", INT64_MAX}});
    REQUIRE(s.trusted.size() == 2);
    CHECK(s.trusted[0].name == "bob"); // oldest first
    CHECK(s.trusted[1].address == "192.0.2.1");
    CHECK(s.messages.empty());

    CHECK(redis.cli({"HGET", cluster::keys::user("alice"), cluster::keys::trusted_field("192.0.2.1")}) == "300");

    // Forgetting alice keeps the claim of a session of hers (her node releases it).
    redis.cli({"HSET", cluster::keys::user("alice"), std::string(cluster::keys::session_field), "node-a"});
    store.persist(store_op::SetLock{"bob", 0});
    store.persist(store_op::ForgetUser{"alice"});
    REQUIRE(run_until({&n}, [&] { return n.engine->idle(); }));
    s = RedisStore::load(sync, names);
    CHECK(s.blocks.empty());
    CHECK(s.locks.size() == 1);
    CHECK(s.trusted.size() == 1);
    CHECK(redis.cli({"HGETALL", cluster::keys::user("alice")}) == "session\nnode-a");
}
