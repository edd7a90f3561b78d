// Mailboxes rule by rule: what is delivered when, what is answered, what is
// persisted; the store and the chat core are fakes that record every call.
#include "core/mailbox.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <set>
#include <string>
#include <vector>

using namespace confab;

namespace {

constexpr UserId alice = 0, bob = 1, carol = 2;
const char* const names[] = {"alice", "bob", "carol"};

struct Answer {
    UserId to;
    ReplyTo reply;
    bool ok; // accepted: durable
    std::string error;
    DepositResult outcome;
};
struct Delivery {
    UserId to;
    std::uint64_t id;
    std::int64_t sent_at_ms;
    UserId from;
    std::string text;
};

struct Fixture : MailboxEvents {
    std::vector<Answer> answers;
    std::vector<Delivery> deliveries;
    std::vector<StoreOp> persisted;
    std::deque<std::uint64_t> uncommitted; // InsertMessage tags not answered yet
    bool accept_stores = true;
    Mailboxes box{*this, [this](StoreOp op) { return persist(std::move(op)); }, 3};
    std::uint64_t next_id = 1000;

    void settled(UserId to, const ReplyTo& reply, DepositResult outcome, std::string_view error) override {
        answers.push_back({to, reply, outcome == DepositResult::accepted, std::string(error), outcome});
    }
    std::set<std::pair<UserId, UserId>> unwanted; // (recipient, sender): deliver() answers false
    bool deliver(UserId to, const StoredMessage& m) override {
        if (unwanted.count({to, m.from})) return false;
        deliveries.push_back({to, m.id, m.sent_at_ms, m.from, m.text});
        return true;
    }
    void online_on(std::string_view node, const Deposit&, Now) override {
        FAIL("a single daemon's mailboxes know no other node, yet one said the recipient is on ", node);
    }
    bool persist(StoreOp op) {
        if (!accept_stores) return false;
        if (auto* m = std::get_if<store_op::InsertMessage>(&op)) uncommitted.push_back(m->tag);
        persisted.push_back(std::move(op));
        return true;
    }

    // A message from `from` to `to`, answered to request `rid` on connection 7; returns its id.
    std::uint64_t send(UserId from, UserId to, std::string text, std::uint32_t rid = 1,
                       DepositResult expect = DepositResult::accepted) {
        std::uint64_t id = next_id++;
        CHECK(box.deposit(Deposit{to, from, names[to], names[from], id, std::int64_t(id) * 10, text,
                                  ReplyTo{7, rid, {}, 0}}) == expect);
        return id;
    }
    void commit_all(bool ok = true) {
        while (!uncommitted.empty()) {
            auto tag = uncommitted.front();
            uncommitted.pop_front();
            box.on_stored(tag, ok, ok ? "" : "disk full");
        }
    }
    // What a login of `u` delivers, oldest first, as texts.
    std::vector<std::string> login(UserId u) {
        deliveries.clear();
        box.deliver_waiting(u);
        std::vector<std::string> texts;
        for (const auto& d : deliveries) {
            CHECK(d.to == u);
            texts.push_back(d.text);
        }
        return texts;
    }
    template <class Op>
    std::vector<Op> ops() const {
        std::vector<Op> out;
        for (const auto& op : persisted)
            if (auto* o = std::get_if<Op>(&op)) out.push_back(*o);
        return out;
    }
};

using Texts = std::vector<std::string>;

} // namespace

TEST_CASE("a deposit is persisted with the names and answered only once committed") {
    Fixture f;
    auto id = f.send(alice, bob, "hello", 42);
    auto ins = f.ops<store_op::InsertMessage>();
    REQUIRE(ins.size() == 1);
    CHECK(ins[0].id == id);
    CHECK(ins[0].recipient == "bob");
    CHECK(ins[0].sender == "alice");
    CHECK(ins[0].sent_at_ms == std::int64_t(id) * 10);
    CHECK(ins[0].text == "hello");
    CHECK(f.answers.empty());
    CHECK(f.deliveries.empty());

    f.commit_all();
    REQUIRE(f.answers.size() == 1);
    CHECK(f.answers[0].ok);
    CHECK(f.answers[0].to == bob);
    CHECK(f.answers[0].reply.conn == 7);
    CHECK(f.answers[0].reply.request == 42);
    // Offered to the recipient at once, in case they logged in while it was being stored.
    REQUIRE(f.deliveries.size() == 1);
    CHECK(f.deliveries[0].to == bob);
    CHECK(f.deliveries[0].id == id);
    CHECK(f.deliveries[0].from == alice);
    CHECK(f.deliveries[0].sent_at_ms == std::int64_t(id) * 10);
}

TEST_CASE("only committed messages are delivered at login, oldest first") {
    Fixture f;
    f.send(alice, bob, "one");
    f.send(carol, bob, "two");
    CHECK(f.login(bob).empty()); // nothing durable yet
    f.commit_all();
    f.send(alice, bob, "three"); // still being stored
    CHECK(f.login(bob) == Texts{"one", "two"});
    f.commit_all();
    CHECK(f.login(bob) == Texts{"one", "two", "three"});
    CHECK(f.login(alice).empty()); // per recipient
}

TEST_CASE("messages come again at every login until acknowledged") {
    Fixture f;
    auto one = f.send(alice, bob, "one");
    f.send(alice, bob, "two");
    auto three = f.send(alice, bob, "three");
    f.commit_all();
    CHECK(f.login(bob) == Texts{"one", "two", "three"});
    CHECK(f.login(bob) == Texts{"one", "two", "three"});

    std::vector<std::uint64_t> ack{three, 5, one}; // any order; unknown ids are ignored
    f.box.acknowledge(bob, ack);
    CHECK(f.login(bob) == Texts{"two"});
    auto del = f.ops<store_op::DeleteMessages>();
    REQUIRE(del.size() == 1); // a batch is one delete
    CHECK(del[0].ids == std::vector<std::uint64_t>{one, three});
    CHECK(f.box.waiting(bob) == 1);
}

TEST_CASE("a message its recipient will not see is forgotten as if acknowledged, at login and at commit") {
    Fixture f;
    auto stored = f.send(alice, bob, "stored");
    f.send(carol, bob, "kept");
    f.commit_all();
    auto in_flight = f.send(alice, bob, "in flight");
    f.unwanted.insert({bob, alice});
    CHECK(f.login(bob) == Texts{"kept"});
    auto del = f.ops<store_op::DeleteMessages>();
    REQUIRE(del.size() == 1);
    CHECK(del[0].ids == std::vector<std::uint64_t>{stored});
    f.commit_all(); // committed after the login: not shown, deleted
    CHECK(f.deliveries.size() == 1);
    del = f.ops<store_op::DeleteMessages>();
    REQUIRE(del.size() == 2);
    CHECK(del[1].ids == std::vector<std::uint64_t>{in_flight});
    CHECK(f.box.waiting(bob) == 1);
    CHECK(f.answers.size() == 3); // every sender was still told "stored"
}

TEST_CASE("an acknowledgement deletes nothing it should not") {
    Fixture f;
    auto to_bob = f.send(alice, bob, "for bob");
    f.commit_all();
    auto pending = f.send(alice, bob, "not committed");
    std::vector<std::uint64_t> ids{to_bob, pending};

    f.box.acknowledge(carol, ids); // another user's ids
    f.box.acknowledge(bob, std::vector<std::uint64_t>{4242});
    CHECK(f.ops<store_op::DeleteMessages>().empty()); // nothing matched: no store operation

    f.box.acknowledge(bob, ids); // the uncommitted one was never delivered, so it stays
    CHECK(f.ops<store_op::DeleteMessages>().size() == 1);
    f.commit_all();
    CHECK(f.login(bob) == Texts{"not committed"});
}

TEST_CASE("a failed commit is answered with the error and the message is gone") {
    Fixture f;
    f.send(alice, bob, "lost", 9);
    f.commit_all(false);
    REQUIRE(f.answers.size() == 1);
    CHECK_FALSE(f.answers[0].ok);
    CHECK(f.answers[0].outcome == DepositResult::lost);
    CHECK(f.answers[0].error == "disk full");
    CHECK(f.answers[0].reply.request == 9);
    CHECK(f.deliveries.empty());
    CHECK(f.login(bob).empty());
    CHECK(f.box.waiting(bob) == 0);
}

TEST_CASE("unknown and repeated commit tags are ignored") {
    Fixture f;
    f.send(alice, bob, "once");
    auto tag = f.uncommitted.front();
    f.box.on_stored(987654, true, "");
    CHECK(f.answers.empty());
    f.commit_all();
    f.box.on_stored(tag, true, "");
    f.box.on_stored(tag, false, "late failure");
    CHECK(f.answers.size() == 1);
    CHECK(f.deliveries.size() == 1);
    CHECK(f.login(bob) == Texts{"once"});
}

TEST_CASE("a full mailbox refuses, counting messages still being stored; acknowledging makes room") {
    Fixture f; // capacity 3
    auto first = f.send(alice, bob, "1");
    f.commit_all();
    f.send(alice, bob, "2");
    f.send(alice, bob, "3");
    auto before = f.persisted.size();
    f.send(alice, bob, "4", 1, DepositResult::mailbox_full);
    CHECK(f.persisted.size() == before); // a refusal stores nothing
    f.send(alice, carol, "elsewhere");   // mailboxes are separate

    f.box.acknowledge(bob, std::vector<std::uint64_t>{first});
    f.send(alice, bob, "5");
    f.box.set_capacity(1); // a reload lowers it: carol's one message fills hers
    f.send(bob, carol, "6", 1, DepositResult::mailbox_full);
    f.commit_all();
    CHECK(f.login(bob) == Texts{"2", "3", "5"});
}

TEST_CASE("a saturated store refuses at once and nothing is kept") {
    Fixture f;
    f.accept_stores = false;
    f.send(alice, bob, "x", 1, DepositResult::store_busy);
    f.accept_stores = true;
    CHECK(f.box.waiting(bob) == 0);
    CHECK(f.answers.empty());
    f.commit_all();
    CHECK(f.login(bob).empty());
}

TEST_CASE("restored messages are durable: delivered in id order, acknowledged, counted against the capacity") {
    Fixture f;
    f.box.restore(bob, carol, {2000, "bob", "carol", 20, "later"});
    f.box.restore(bob, alice, {1000, "bob", "alice", 10, "earlier"});
    CHECK(f.ops<store_op::InsertMessage>().empty()); // already in the store
    CHECK(f.login(bob) == Texts{"earlier", "later"});
    CHECK(f.deliveries[0].id == 1000);
    CHECK(f.deliveries[0].from == alice);
    CHECK(f.deliveries[0].sent_at_ms == 10);

    f.next_id = 3000;
    f.send(alice, bob, "new");
    f.send(alice, bob, "too many", 1, DepositResult::mailbox_full);
    f.box.acknowledge(bob, std::vector<std::uint64_t>{1000, 2000});
    CHECK(f.ops<store_op::DeleteMessages>().at(0).ids == std::vector<std::uint64_t>{1000, 2000});
    f.commit_all();
    CHECK(f.login(bob) == Texts{"new"});
}

TEST_CASE("one sender may fill only three quarters of a mailbox: the rest stays for everyone else") {
    Fixture f;
    f.box.set_capacity(8); // a sender's share: 6
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(f.send(alice, bob, std::to_string(i)));
    f.send(alice, bob, "flood", 1, DepositResult::sender_share_full);
    f.send(carol, bob, "from carol");
    f.commit_all();
    // Acknowledged messages give the sender its share back.
    f.login(bob);
    f.box.acknowledge(bob, std::vector<std::uint64_t>{ids[0]});
    f.send(alice, bob, "again");
    f.send(alice, bob, "and again", 1, DepositResult::sender_share_full);
}
