// Offline mailboxes on a cluster (in Redis) answer their senders exactly as a
// single daemon's do: the same statuses and texts for a stored message, a full
// mailbox and a sender over its share; and a cluster node's status does not
// claim to count them. Real confabd (one with the local engine,
// then two nodes with the Redis engine and a real redis-server); raw clients.
#include "harness.hpp"
#include "redis_server.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace confab;
using namespace confab::test;
using proto::LoginOutcome;
using proto::Status;

namespace {

struct Answer {
    Status code;
    std::string detail;
    bool operator==(const Answer&) const = default;
};

doctest::String toString(const std::vector<Answer>& answers) {
    std::string s;
    for (const auto& a : answers) s += std::to_string(int(a.code)) + " " + a.detail + "\n";
    return s.c_str();
}

Answer send_message(RawClient& from, const std::string& to, const std::string& text) {
    const std::uint32_t rid = from.next_request();
    from.send(proto::SendMessage{rid, to, text});
    std::vector<std::uint8_t> keep;
    for (;;) {
        auto r = from.expect<proto::Result>(5000ms, &keep);
        REQUIRE_MESSAGE(r, "no Result");
        if (r->request_id == rid) return {r->code, std::string(r->detail)};
    }
}

// A mailbox of 4 (a sender's share: 3) filled by alice, then by carol, on `nodes` nodes.
std::vector<Answer> fill_bobs_mailbox(std::size_t nodes) {
    DaemonOptions o;
    o.nodes = nodes;
    o.extra_config = "max_offline_messages = 4\n";
    Daemon d(o);
    RawClient alice(d.node_port(0));
    REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
    RawClient carol(d.node_port(nodes - 1));
    REQUIRE(carol.login("carol", "carol123").outcome == LoginOutcome::ok);
    std::vector<Answer> answers;
    for (int i = 0; i < 4; ++i) answers.push_back(send_message(alice, "bob", "from alice " + std::to_string(i)));
    for (int i = 0; i < 2; ++i) answers.push_back(send_message(carol, "bob", "from carol " + std::to_string(i)));
    return answers;
}

// confabctl's output for `command` on the daemon's control socket at `socket`.
std::string confabctl(const std::string& socket, const std::string& command) {
    const char* exe = std::getenv("CONFABCTL");
    REQUIRE(exe);
    const std::string line = std::string(exe) + " --socket '" + socket + "' " + command + " 2>&1";
    FILE* out = ::popen(line.c_str(), "r");
    REQUIRE(out);
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
    ::pclose(out);
    return text;
}

} // namespace

TEST_CASE("a full mailbox and a sender over its share are answered on a cluster as on one daemon") {
    const std::vector<Answer> single = fill_bobs_mailbox(1);
    REQUIRE(single.size() == 6);
    CHECK(single[2].code == Status::ok_stored);
    CHECK(single[3].code == Status::mailbox_full); // alice's share is 3
    CHECK(single[3].detail.find("as one sender may") != std::string::npos);
    CHECK(single[4].code == Status::ok_stored);
    CHECK(single[5].code == Status::mailbox_full);
    CHECK(single[5].detail == "bob's mailbox is full");

    CHECK(fill_bobs_mailbox(2) == single);
}

TEST_CASE("a cluster node does not pass off a count of its own as the stored messages waiting") {
    for (const std::size_t nodes : {std::size_t(1), std::size_t(2)}) {
        CAPTURE(nodes);
        DaemonOptions o;
        o.nodes = nodes;
        Daemon d(o);
        RawClient alice(d.node_port(0));
        REQUIRE(alice.login("alice", "alice123").outcome == LoginOutcome::ok);
        for (int i = 0; i < 3; ++i) REQUIRE(send_message(alice, "bob", "waiting").code == Status::ok_stored);
        const std::string socket = d.dir().path() + (nodes == 1 ? "/state" : "/state/node-0") + "/control.sock";
        const std::string status = confabctl(socket, "status"), metrics = confabctl(socket, "metrics");
        if (nodes == 1) {
            CHECK_MESSAGE(status.find("offline stored      3\n") != std::string::npos, status);
            CHECK_MESSAGE(metrics.find("confab_offline_messages 3\n") != std::string::npos, metrics);
        } else {
            CHECK_MESSAGE(status.find("offline stored      not counted by a cluster node (they are in Redis)\n") !=
                              std::string::npos,
                          status);
            CHECK_MESSAGE(metrics.find("confab_offline_messages") == std::string::npos, metrics);
            CHECK(d.redis().cli({"XLEN", "confab:{bob}:mailbox"}) == "3"); // where they are
        }
    }
}
