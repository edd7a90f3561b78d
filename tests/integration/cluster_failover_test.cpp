// A cluster node that stops: the users of the other nodes see its users log
// out, and those users can log in on another node. Real confabd nodes with the
// Redis engine and their real redis-server; raw protocol clients.
#include "harness.hpp"
#include "redis_server.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <string>
#include <thread>

using namespace confab;
using namespace confab::test;
using proto::LoginOutcome;

namespace {

using Clock = std::chrono::steady_clock;

DaemonOptions cluster(std::size_t nodes) {
    DaemonOptions o;
    o.nodes = nodes;
    return o;
}

Millis since(Clock::time_point t) {
    return std::chrono::duration_cast<Millis>(Clock::now() - t);
}

// Waits (up to `limit`) for the presence event saying `user` logged in or out.
bool sees_presence(RawClient& c, const std::string& user, proto::PresenceKind kind, Millis limit) {
    const auto deadline = Clock::now() + limit;
    for (;;) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        std::vector<std::uint8_t> keep;
        auto p = c.expect<proto::PresenceEvent>(std::max(left, 1ms), &keep);
        if (!p) return false;
        if (p->user == user && p->kind == kind) return true;
    }
}

bool sees_logout(RawClient& c, const std::string& user, Millis limit) {
    return sees_presence(c, user, proto::PresenceKind::logout, limit);
}

bool sees_login(RawClient& c, const std::string& user, Millis limit = 5000ms) {
    return sees_presence(c, user, proto::PresenceKind::login, limit);
}

std::vector<std::string> whoelse(RawClient& c) {
    c.send(proto::WhoElse{c.next_request()});
    std::vector<std::uint8_t> keep;
    auto l = c.expect<proto::UserList>(5000ms, &keep);
    REQUIRE(l);
    std::vector<std::string> names(l->names.begin(), l->names.end());
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

TEST_CASE("a node killed with SIGKILL: every other node sees its users log "
          "out, who log in elsewhere, within 13 s") {
    Daemon d(cluster(3));
    RawClient alice(d.node_port(0));
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    RawClient carol(d.node_port(2));
    REQUIRE(carol.login("carol", "carol123").outcome == LoginOutcome::ok);
    auto bob = std::make_unique<RawClient>(d.node_port(1));
    REQUIRE(bob->login("bob", "bob123").outcome == LoginOutcome::ok);
    REQUIRE(sees_login(alice, "bob"));
    REQUIRE(sees_login(carol, "bob"));

    d.signal_node(1, SIGKILL);
    const auto killed_at = Clock::now();
    REQUIRE(d.wait_node_exit(1, 3000ms));
    bob.reset();
    // The alive key lives 10 s after the node's last refresh, checked every
    // second. Each surviving node must hear it, not only the first one to notice.
    CHECK(sees_logout(alice, "bob", 13000ms - since(killed_at)));
    CHECK(sees_logout(carol, "bob", 13000ms - since(killed_at)));
    MESSAGE("both saw bob log out after ", since(killed_at).count(), " ms");
    CHECK(whoelse(alice) == std::vector<std::string>{"carol"});
    CHECK(whoelse(carol) == std::vector<std::string>{"alice"});

    // Released: bob gets in at once on a surviving node, and both others see it.
    RawClient again(d.node_port(2));
    CHECK(again.login("bob", "bob123").outcome == LoginOutcome::ok);
    CHECK(since(killed_at) < 13000ms);
    CHECK(sees_login(alice, "bob"));
    CHECK(sees_login(carol, "bob"));
}

TEST_CASE("a node stopped with SIGTERM: the other nodes' users see its users "
          "log out at once") {
    Daemon d(cluster(2));
    RawClient alice(d.node_port(0));
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    RawClient bob(d.node_port(1));
    REQUIRE(bob.login("bob", "bob123").outcome == LoginOutcome::ok);
    REQUIRE(sees_login(alice, "bob"));

    d.signal_node(1, SIGTERM);
    const auto stopped_at = Clock::now();
    CHECK(sees_logout(alice, "bob", 2000ms));
    CHECK(d.wait_node_exit(1, 3000ms) == 0);
    MESSAGE("alice saw bob log out and node 1 exited after ", since(stopped_at).count(), " ms");
    CHECK(whoelse(alice).empty());
    RawClient again(d.node_port(0)); // the name was released too
    CHECK(again.login("bob", "bob123").outcome == LoginOutcome::ok);
}

TEST_CASE("a node stopped with SIGTERM while Redis does not answer still exits "
          "within a few seconds") {
    Daemon d(cluster(2));
    RawClient bob(d.node_port(1));
    REQUIRE(bob.login("bob", "bob123").outcome == LoginOutcome::ok);

    d.redis().pause(); // connections stay open, nothing is answered: the worst
                       // case for a goodbye
    d.signal_node(1, SIGTERM);
    const auto stopped_at = Clock::now();
    CHECK(d.wait_node_exit(1, 6000ms) == 0);
    MESSAGE("node 1 exited after ", since(stopped_at).count(), " ms");
    CHECK(d.node_log(1).find("could not leave cleanly") != std::string::npos);
    d.redis().resume();
}

TEST_CASE("a node stopped with SIGTERM while Redis is down exits at once") {
    Daemon d(cluster(2));
    RawClient bob(d.node_port(1));
    REQUIRE(bob.login("bob", "bob123").outcome == LoginOutcome::ok);

    d.redis().stop();
    REQUIRE(d.log_contains("Redis unreachable", 5000ms));
    d.signal_node(1, SIGTERM);
    const auto stopped_at = Clock::now();
    CHECK(d.wait_node_exit(1, 2000ms) == 0);
    MESSAGE("node 1 exited after ", since(stopped_at).count(), " ms");
}

// Waits (up to 5 s) until every node of `d` has logged that it waits for Redis.
static bool every_node_waits_for_redis(const Daemon& d) {
    const auto deadline = Clock::now() + 5000ms;
    for (std::size_t n = 0; n < d.nodes(); ++n)
        while (d.node_log(n).find("trying again in") == std::string::npos) {
            if (Clock::now() >= deadline) return false;
            std::this_thread::sleep_for(20ms);
        }
    return true;
}

TEST_CASE("nodes started before Redis wait for it, then serve") {
    DaemonOptions o = cluster(2);
    o.redis_up_first = false;
    Daemon d(o);
    REQUIRE(every_node_waits_for_redis(d));
    d.redis().start();
    d.await_serving(); // within 10 s of Redis answering: the retries back off to 5 s at most
    RawClient alice(d.node_port(0));
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    RawClient bob(d.node_port(1));
    REQUIRE(bob.login("bob", "bob123").outcome == LoginOutcome::ok);
    CHECK(sees_login(alice, "bob"));
}

TEST_CASE("a node waiting for Redis stops at once on SIGTERM") {
    DaemonOptions o = cluster(2);
    o.redis_up_first = false;
    Daemon d(o);
    REQUIRE(every_node_waits_for_redis(d));
    d.signal(SIGTERM);
    CHECK(d.wait_exit(2000ms) == 0);
    CHECK(d.log_contains("while waiting for Redis: stopped"));
}

TEST_CASE("a wrong Redis password ends start-up with a configuration error, not a wait") {
    RedisServerOptions ro;
    ro.password = "the-right-one";
    RedisServer redis(ro);
    TempDir dir;
    const std::string config =
        dir.file("confabd.toml", "listen = \"127.0.0.1\"\nport = 0\nstate_dir = \"" + dir.path() +
                                     "/state\"\n[cluster]\nengine = \"redis\"\n"
                                     "redis = \"127.0.0.1:" +
                                     std::to_string(redis.port()) + "\"\nredis_password = \"a-wrong-one\"\n");
    const auto started = Clock::now();
    const ProcessResult r = run_confabd({"--config", config});
    CHECK(r.status == 78); // EX_CONFIG: the unit's RestartPreventExitStatus, no restart loop
    CHECK(r.output.find("check redis_user and redis_password") != std::string::npos);
    CHECK(since(started) < 5000ms);
}
