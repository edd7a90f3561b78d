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

TEST_CASE("message ids end in their node's ordinal, which no other live node holds") {
    RedisServer redis;
    redis.cli({"SET", "confab:node-ordinal", "1023"}); // the start-up counter about to wrap
    Daemon a(node(redis, "node-a"));
    wait_available(a);
    redis.cli({"SET", "confab:node-ordinal", "2047"}); // wrapped: node-b's search starts where node-a's did
    Daemon b(node(redis, "node-b"));
    wait_available(b);

    RawClient alice(a.port()), carol(a.port()), bob(b.port()), dave(b.port());
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    REQUIRE(carol.login("carol", "carol123").outcome == LoginOutcome::ok);
    REQUIRE(bob.login("bob", "bob123").outcome == LoginOutcome::ok);
    REQUIRE(dave.login("dave", "dave123").outcome == LoginOutcome::ok);
    std::vector<std::uint8_t> keep;
    alice.send(proto::SendMessage{alice.next_request(), "carol", "made on node a"});
    bob.send(proto::SendMessage{bob.next_request(), "dave", "made on node b"});
    auto on_a = carol.expect<proto::MessageEvent>(5000ms, &keep);
    auto on_b = dave.expect<proto::MessageEvent>(5000ms, &keep);
    REQUIRE(on_a);
    REQUIRE(on_b);
    const std::uint64_t ordinal_a = on_a->message_id & 1023, ordinal_b = on_b->message_id & 1023;
    CHECK(ordinal_a != ordinal_b);
    CHECK(redis.cli({"GET", "confab:ordinal:{" + std::to_string(ordinal_a) + "}"}) == "node-a");
    CHECK(redis.cli({"GET", "confab:ordinal:{" + std::to_string(ordinal_b) + "}"}) == "node-b");
}

TEST_CASE("a node refuses to start when every node ordinal is held by a live node") {
    RedisServer redis;
    std::vector<std::string> mset{"MSET"};
    for (int n = 0; n < 1024; ++n) mset.insert(mset.end(), {"confab:ordinal:{" + std::to_string(n) + "}", "node-x"});
    redis.cli(mset);
    TempDir dir;
    const std::string config =
        dir.file("confabd.toml", "users_file = \"" + dir.file("users", "alice alice123\n") + "\"\nstate_dir = \"" +
                                     dir.path() + "/state\"\nport = 0\n" + node(redis, "node-new").extra_config);
    const ProcessResult r = run_confabd({"--config", config});
    CHECK(r.status == 1);
    CHECK_MESSAGE(r.output.find("cluster: node node-new cannot join: all 1024 node ordinals are held by live nodes") !=
                      std::string::npos,
                  r.output);
    CHECK(redis.cli({"SISMEMBER", "confab:nodes", "node-new"}) == "0");
}
