// Cluster mode end to end: two real confabd nodes and a real redis-server (on
// ephemeral loopback ports). A user on node A and a user on node B chat as if
// they shared one server: presence, direct messages, whoelse, the one session
// per name, broadcast.
#include "harness.hpp"
#include "redis_server.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>

using namespace confab;
using namespace confab::test;
using proto::LoginOutcome;
using proto::Status;

namespace {

DaemonOptions node(const RedisServer& redis, const std::string& id) {
    DaemonOptions o;
    o.extra_config = "[cluster]\nengine = \"redis\"\nredis = \"127.0.0.1:" + std::to_string(redis.port()) +
                     "\"\nnode_id = \"" + id + "\"\n";
    return o;
}

// A node answers logins once it has connected to Redis and read the others' users.
void wait_available(const Daemon& d) {
    REQUIRE(d.log_contains("cluster: available", 10000ms));
}

bool lists(const proto::UserList& l, std::string_view name) {
    return std::find(l.names.begin(), l.names.end(), name) != l.names.end();
}

} // namespace

TEST_CASE("two nodes and Redis serve one chat") {
    RedisServer redis;
    Daemon a(node(redis, "node-a"));
    Daemon b(node(redis, "node-b"));
    wait_available(a);
    wait_available(b);

    RawClient alice(a.port());
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    RawClient bob(b.port());
    REQUIRE(bob.login("bob", "bob123").outcome == LoginOutcome::ok);

    // Presence crosses nodes.
    std::vector<std::uint8_t> keep;
    auto p = alice.expect<proto::PresenceEvent>(5000ms, &keep);
    REQUIRE(p);
    CHECK(p->user == "bob");
    CHECK(p->kind == proto::PresenceKind::login);

    // A direct message reaches a user on the other node, and its sender hears ok.
    auto rid = alice.next_request();
    alice.send(proto::SendMessage{rid, "bob", "hello from node a"});
    auto m = bob.expect<proto::MessageEvent>(5000ms, &keep);
    REQUIRE(m);
    CHECK(m->from == "alice");
    CHECK(m->text == "hello from node a");
    auto r = alice.expect<proto::Result>(5000ms, &keep);
    REQUIRE(r);
    CHECK(r->request_id == rid);
    CHECK(r->code == Status::ok);

    // whoelse lists the users of every node.
    alice.send(proto::WhoElse{alice.next_request()});
    auto l = alice.expect<proto::UserList>(5000ms, &keep);
    REQUIRE(l);
    CHECK(lists(*l, "bob"));
    CHECK_FALSE(lists(*l, "alice"));

    // A second login of a name logged in on the other node is refused, on either side.
    {
        RawClient again(b.port());
        CHECK(again.login("alice", "alice123").outcome == LoginOutcome::already_logged_in);
        RawClient again_a(a.port());
        CHECK(again_a.login("bob", "bob123").outcome == LoginOutcome::already_logged_in);
    }

    // A broadcast reaches the users of every node.
    RawClient carol(b.port());
    REQUIRE(carol.login("carol", "carol123").outcome == LoginOutcome::ok);
    alice.send(proto::Broadcast{alice.next_request(), "to all nodes"});
    for (RawClient* c : {&bob, &carol}) {
        auto e = c->expect<proto::BroadcastEvent>(5000ms, &keep);
        REQUIRE(e);
        CHECK(e->from == "alice");
        CHECK(e->text == "to all nodes");
    }

    // After a logout the name can log in on the other node (the release is asynchronous: bounded retries).
    alice.send(proto::Logout{alice.next_request()});
    CHECK(alice.closed_by_server(5000ms));
    bool ok = false;
    for (int i = 0; i < 50 && !ok; ++i) {
        RawClient again(b.port());
        ok = again.login("alice", "alice123").outcome == LoginOutcome::ok;
        if (!ok) std::this_thread::sleep_for(100ms);
    }
    CHECK(ok);
}

TEST_CASE("a message to a user of the other node who is offline is stored and delivered at login there") {
    RedisServer redis;
    Daemon a(node(redis, "node-a"));
    Daemon b(node(redis, "node-b"));
    wait_available(a);
    wait_available(b);
    RawClient alice(a.port());
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    const auto rid = alice.next_request();
    alice.send(proto::SendMessage{rid, "dave", "while you were away"});
    std::vector<std::uint8_t> keep_r;
    auto r = alice.expect<proto::Result>(5000ms, &keep_r);
    REQUIRE(r);
    CHECK(r->code == Status::ok_stored);

    RawClient dave(b.port());
    REQUIRE(dave.login("dave", "dave123").outcome == LoginOutcome::ok);
    std::vector<std::uint8_t> keep;
    auto m = dave.expect<proto::MessageEvent>(5000ms, &keep);
    REQUIRE(m);
    CHECK(m->from == "alice");
    CHECK(m->text == "while you were away");
}
