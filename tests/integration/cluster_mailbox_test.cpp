// Offline mailboxes on a cluster (in Redis) answer their senders exactly as a
// single daemon's do: the same statuses and texts for a stored message, a full
// mailbox and a sender over its share. Real confabd (one with the local engine,
// then two nodes with the Redis engine and a real redis-server); raw clients.
#include "harness.hpp"

#include <doctest/doctest.h>

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
