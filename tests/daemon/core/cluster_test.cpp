// ChatCore as one node of a cluster, rule by rule: through a FakeCluster (which
// records what the core asks of the engine and lets the test answer) on the
// FakeEnv and fake clock; two nodes are joined by a small in-test bus that
// carries one core's publishes and sends to the other and keeps the one
// session per name, as the shared engine does.
#include "fake_env.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

using namespace confab;
using namespace confab::proto;
using confab::test::Driver;

namespace {

constexpr ConnId A = 1, B = 2, C = 3, D = 4;
using Names = std::vector<std::string>;

Names names_of(const UserList& l) {
    return {l.names.begin(), l.names.end()};
}

struct FakeCluster final : ClusterLink {
    std::string id;
    std::uint16_t ordinal = 0;
    bool up = true;
    struct ClaimAsked {
        std::uint64_t tag;
        std::string name;
    };
    struct Sent {
        std::string node;
        std::uint64_t tag;
        cluster::Event event;
    };
    std::deque<ClaimAsked> claims; // not answered yet
    std::vector<std::string> released;
    std::vector<cluster::Event> published;
    std::vector<Sent> sent;
    std::vector<std::string> log;                        // "claim alice", "release alice", "publish Offline", in order
    std::size_t published_carried = 0, sent_carried = 0; // what the Bus has carried already

    FakeCluster(std::string node, std::uint16_t ord) : id(std::move(node)), ordinal(ord) {}
    const std::string& node_id() const override { return id; }
    std::uint16_t node_ordinal() const override { return ordinal; }
    bool available() const override { return up; }
    // Set: every claim is answered at once, from inside claim() (an engine may do that).
    std::function<cluster::Claim(std::string_view)> answer_at_once;
    ChatCore* core = nullptr; // for answer_at_once and flushes
    Now at{};
    std::function<Now()> clock = [this] { return at; };
    void claim(std::uint64_t tag, std::string_view name) override {
        log.push_back("claim " + std::string(name));
        if (answer_at_once) return core->on_claimed(tag, answer_at_once(name), at);
        claims.push_back({tag, std::string(name)});
    }
    void release(std::string_view name) override {
        released.emplace_back(name);
        log.push_back("release " + std::string(name));
    }
    void publish(const cluster::Event& e) override {
        published.push_back(e);
        log.push_back("publish " + std::to_string(e.index()));
    }
    void send_to(std::string_view node, std::uint64_t tag, const cluster::Event& e) override {
        sent.push_back({std::string(node), tag, e});
    }
    // Flushes are answered at once (ok = up) unless held, then by answer_flushes().
    bool hold_flushes = false;
    std::deque<std::uint64_t> flushes;
    void flush(std::uint64_t tag) override {
        log.push_back("flush");
        if (hold_flushes) return flushes.push_back(tag);
        core->on_flushed(tag, up, clock());
    }
    void answer_flushes(bool ok) {
        while (!flushes.empty()) {
            const std::uint64_t tag = flushes.front();
            flushes.pop_front();
            core->on_flushed(tag, ok, clock());
        }
    }

    template <class E>
    std::vector<E> published_of() const {
        std::vector<E> out;
        for (const auto& e : published)
            if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
        return out;
    }
    template <class E>
    std::vector<Sent> sent_of() const {
        std::vector<Sent> out;
        for (const auto& s : sent)
            if (std::holds_alternative<E>(s.event)) out.push_back(s);
        return out;
    }
};

template <class E>
constexpr std::size_t event_index = [] {
    cluster::Event e{E{}};
    return e.index();
}();

struct Bus;

// One node: a ChatCore with its FakeEnv and FakeCluster.
struct Node {
    FakeCluster link;
    Driver d;
    Bus* bus = nullptr;

    explicit Node(std::string id, std::uint16_t ordinal = 0, CoreSettings s = {}, MailboxFactory mailboxes = {})
        : link(std::move(id), ordinal), d(s, test::demo_users_text, &link, std::move(mailboxes)) {
        link.core = &d.core;
        link.clock = [this] { return d.now(); };
        d.env.token_stream = ordinal;
    }

    Now now() const { return d.now(); }
    // Answers the oldest claim not yet answered.
    void answer_claim(cluster::Claim answer) {
        REQUIRE_FALSE(link.claims.empty());
        auto c = link.claims.front();
        link.claims.pop_front();
        d.core.on_claimed(c.tag, answer, now());
    }
    void settle_claims(); // by the bus if there is one, else claimed
    // A new connection's Hello and Login, not answered yet (the claim is still out).
    void start_login(ConnId c, std::string_view name, std::string_view pw, std::uint32_t rid = 1) {
        d.connect(c);
        d.hello(c);
        d.send(c, Login{rid, name, pw});
    }
    LoginResult login(ConnId c, std::string_view name, std::string_view pw, std::uint32_t rid = 1) {
        d.send(c, Login{rid, name, pw});
        d.run_jobs();
        settle_claims();
        auto r = d.env.pop<LoginResult>(c);
        CHECK(r.request_id == rid);
        return r;
    }
    void online(ConnId c, std::string_view name) {
        d.connect(c);
        d.hello(c);
        REQUIRE(login(c, name, std::string(name) + "123").outcome == LoginOutcome::ok);
        drain_everywhere();
    }
    void drain_everywhere(); // every inbox of every node: a test's setup leaves nothing unread
};

// Carries events between nodes and holds the one session per name, like the engine.
struct Bus {
    std::vector<Node*> nodes;
    std::map<std::string, std::string> sessions; // name -> node id
    std::set<std::string> gone;                  // nodes that no longer listen

    explicit Bus(std::initializer_list<Node*> ns) : nodes(ns) {
        for (Node* n : nodes) n->bus = this;
    }
    Node* node(std::string_view id) {
        for (Node* n : nodes)
            if (n->link.id == id && !gone.count(n->link.id)) return n;
        return nullptr;
    }
    void settle_claims(Node& n) {
        while (!n.link.claims.empty()) {
            auto& holder = sessions[n.link.claims.front().name];
            const bool free = holder.empty() || holder == n.link.id || gone.count(holder);
            if (free) holder = n.link.id;
            n.answer_claim(free ? cluster::Claim::claimed : cluster::Claim::taken);
        }
    }
    // Carries everything published and sent, until nothing is left.
    void pump() {
        for (bool moved = true; moved;) {
            moved = false;
            for (Node* n : nodes) moved |= carry(*n);
        }
    }
    // Carries what `n` has published and sent so far, not what that makes the others send: a
    // test chooses the order in which the nodes hear each other. False if there was nothing.
    bool carry(Node& n) {
        bool moved = false;
        for (const auto& r : n.link.released)
            if (sessions[r] == n.link.id) sessions.erase(r);
        n.link.released.clear();
        while (n.link.published_carried < n.link.published.size()) {
            moved = true;
            const cluster::Event e = n.link.published[n.link.published_carried++];
            for (Node* other : nodes)
                if (other != &n && !gone.count(other->link.id)) other->d.core.on_cluster_event(e, other->now());
        }
        while (n.link.sent_carried < n.link.sent.size()) {
            moved = true;
            const FakeCluster::Sent s = n.link.sent[n.link.sent_carried++];
            Node* to = node(s.node);
            if (to) to->d.core.on_cluster_event(s.event, to->now());
            if (s.tag != 0) n.d.core.on_routed(s.tag, to != nullptr, n.now());
        }
        return moved;
    }
    void advance(std::int64_t ms) {
        for (Node* n : nodes) n->d.advance(ms);
    }
};

void Node::drain_everywhere() {
    d.env.drain_all();
    if (bus)
        for (Node* n : bus->nodes) n->d.env.drain_all();
}

void Node::settle_claims() {
    if (bus) {
        bus->settle_claims(*this);
        bus->pump();
    } else {
        while (!link.claims.empty()) answer_claim(cluster::Claim::claimed);
    }
}

// What the engine reads when it is back: `online` on other nodes, and the stored state of
// every name of the users file (nothing stored but what `fill` adds), after claiming this
// node's sessions again (every one still its own). A read again while available (after
// dropped events) has no re-claims.
cluster::Snapshot snapshot_with_stored(std::vector<cluster::Online> online,
                                       const std::function<void(StoredState&)>& fill = {}) {
    cluster::Snapshot s;
    s.online = std::move(online);
    s.stored.emplace().names = {"alice", "bob", "carol", "dave"};
    if (fill) fill(s.stored->state);
    s.reclaim.emplace();
    return s;
}
cluster::Snapshot read_again(const cluster::Snapshot& after_reconnect) {
    cluster::Snapshot s;
    s.online = after_reconnect.online;
    s.last_seen = after_reconnect.last_seen;
    s.stored = after_reconnect.stored;
    return s;
}

// Two nodes a and b on one bus.
struct Pair {
    Node a{"node-a", 1}, b{"node-b", 2};
    Bus bus{&a, &b};
    explicit Pair(CoreSettings s = {}) : a("node-a", 1, s), b("node-b", 2, s) {}
};

// The engine's shared mailboxes, as the Redis ones work: one store for every node. A
// deposit runs when the test says (Redis answers later) and, in the same step, finds the
// recipient's session in the Bus: held by another node (not the one a route found gone), it
// stores nothing and hands the message back for that node; otherwise it stores it.
struct SharedMailbox;
struct SharedMailboxes {
    Bus* bus = nullptr;
    struct Kept {
        std::uint64_t id;
        std::int64_t sent_at_ms;
        std::string from, text;
    };
    std::map<std::string, std::vector<Kept>> boxes; // by recipient
    std::map<std::string, SharedMailbox*> of;       // each node's
    SharedMailbox& at(const Node& n) { return *of.at(n.link.id); }
};

struct SharedMailbox final : OfflineMailbox {
    struct Sent { // a deposit Redis has not run yet
        UserId to, from;
        std::uint64_t id;
        std::int64_t sent_at_ms;
        std::string text;
        ReplyTo reply;
        std::string unreachable;
    };
    MailboxEvents& events;
    const UserDirectory& users;
    SharedMailboxes& shared;
    std::string node;
    std::function<Now()> clock;
    std::deque<Sent> sent;

    SharedMailbox(MailboxEvents& e, const UserDirectory& u, SharedMailboxes& s, std::string n)
        : events(e), users(u), shared(s), node(std::move(n)) {}
    DepositResult deposit(const Deposit& d) override {
        sent.push_back(
            {d.to, d.from, d.id, d.sent_at_ms, std::string(d.text), d.reply, std::string(d.unreachable_node)});
        return DepositResult::accepted;
    }
    // Redis runs the deposits sent so far, in order.
    void run() {
        while (!sent.empty()) {
            const Sent s = std::move(sent.front());
            sent.pop_front();
            const std::string to(users.name_of(s.to)), from(users.name_of(s.from));
            auto holder = shared.bus->sessions.find(to);
            if (holder != shared.bus->sessions.end() && !holder->second.empty() && holder->second != node &&
                holder->second != s.unreachable) {
                events.online_on(holder->second, Deposit{s.to, s.from, to, from, s.id, s.sent_at_ms, s.text, s.reply},
                                 clock());
                continue;
            }
            shared.boxes[to].push_back({s.id, s.sent_at_ms, from, s.text});
            events.settled(s.to, s.reply, DepositResult::accepted, {});
            if (!events.deliver(s.to, StoredMessage{s.id, s.sent_at_ms, s.from, s.text, true})) forget(to, s.id);
        }
    }
    void deliver_waiting(UserId to) override { // the read runs at once: after every deposit run so far
        const std::string name(users.name_of(to));
        const std::vector<SharedMailboxes::Kept> kept = shared.boxes[name];
        for (const auto& k : kept)
            if (!events.deliver(to, StoredMessage{k.id, k.sent_at_ms, *users.find(k.from), k.text, true}))
                forget(name, k.id);
    }
    void acknowledge(UserId to, std::span<const std::uint64_t> ids) override {
        for (std::uint64_t id : ids) forget(std::string(users.name_of(to)), id);
    }
    void forget(const std::string& to, std::uint64_t id) {
        std::erase_if(shared.boxes[to], [id](const SharedMailboxes::Kept& k) { return k.id == id; });
    }
    void on_stored(std::uint64_t, bool, std::string_view) override {}
    void restore(UserId, UserId, const StoredState::Message&) override {}
    void set_capacity(std::size_t) override {}
    void forget_user(UserId) override {}
    std::optional<std::size_t> held() const override { return std::nullopt; }
};

MailboxFactory shared_mailbox(SharedMailboxes& shared, std::string node) {
    return [&shared, node](MailboxEvents& events, const UserDirectory& users, std::size_t) {
        auto box = std::make_unique<SharedMailbox>(events, users, shared, node);
        shared.of[node] = box.get();
        return box;
    };
}

// Nodes a, b and c on one bus, with the engine's shared mailboxes.
struct SharedTrio {
    SharedMailboxes store;
    Node a{"node-a", 1, {}, shared_mailbox(store, "node-a")};
    Node b{"node-b", 2, {}, shared_mailbox(store, "node-b")};
    Node c{"node-c", 3, {}, shared_mailbox(store, "node-c")};
    Bus bus{&a, &b, &c};
    SharedTrio() {
        store.bus = &bus;
        for (Node* n : {&a, &b, &c}) store.at(*n).clock = [n] { return n->now(); };
    }
    SharedMailbox& box(const Node& n) { return store.at(n); }
    std::size_t stored_for(const std::string& name) { return store.boxes[name].size(); }
};

} // namespace

// ====================================================================== login and session

TEST_SUITE("cluster: login") {

    TEST_CASE("a right password claims the name; the session exists only once the claim is won") {
        Node n("node-a");
        n.start_login(A, "alice", "alice123");
        REQUIRE(n.link.claims.size() == 1);
        CHECK(n.link.claims.front().name == "alice");
        CHECK(n.d.env.pending(A) == 0); // no answer before the claim's
        CHECK(n.d.core.online_count() == 0);
        n.d.send(A, WhoElse{2});
        CHECK(n.d.env.pop<Result>(A).code == Status::not_logged_in);
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
        CHECK(n.d.core.online_count() == 1);
        auto online = n.link.published_of<cluster::Online>();
        REQUIRE(online.size() == 1);
        CHECK(online[0].name == "alice");
        CHECK(online[0].node == "node-a");
        CHECK(online[0].at_wall_ms == n.now().wall_ms);
        CHECK(online[0].trusted_address == "192.0.2.7"); // the login's address, trusted by every node
        CHECK(online[0].listen_host == "192.0.2.7");     // no listener yet: the address it connects from
        CHECK(online[0].listen_port == 0);
    }

    TEST_CASE("a won claim is announced first; the welcome waits until the other nodes have it") {
        Node n("node-a");
        n.link.hold_flushes = true;
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.link.published_of<cluster::Online>().size() == 1); // published ...
        REQUIRE(n.link.flushes.size() == 1);                       // ... then flushed
        CHECK(n.d.env.pending(A) == 0);                            // and no welcome before that
        CHECK(n.d.core.online_count() == 0);
        // A second login of the name meanwhile is refused, not claimed again.
        n.start_login(B, "alice", "alice123");
        CHECK(n.d.env.pop<LoginResult>(B).outcome == LoginOutcome::already_logged_in);
        n.link.answer_flushes(true);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
        CHECK(n.d.core.online_count() == 1);
        CHECK(n.link.published_of<cluster::Online>().size() == 1); // not announced twice
    }

    TEST_CASE("a flush that fails undoes the login: unavailable, the name released and its Offline published") {
        Node n("node-a");
        n.link.hold_flushes = true;
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::claimed);
        n.link.answer_flushes(false);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::unavailable);
        CHECK(n.d.core.online_count() == 0);
        CHECK(n.link.released == std::vector<std::string>{"alice"});
        CHECK(n.link.published_of<cluster::Offline>().size() == 1);
        // The connection may try again.
        n.link.hold_flushes = false;
        n.d.send(A, Login{2, "alice", "alice123"});
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a connection that closes while its login is announced gives the name back") {
        Node n("node-a");
        n.link.hold_flushes = true;
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::claimed);
        n.d.core.on_disconnect(A, n.now());
        n.link.answer_flushes(true);
        CHECK(n.d.core.online_count() == 0);
        CHECK(n.link.released == std::vector<std::string>{"alice"});
        CHECK(n.link.published_of<cluster::Offline>().size() == 1);
    }

    TEST_CASE("a wrong password's answer waits until the other nodes count the failure") {
        Node n("node-a");
        n.link.hold_flushes = true;
        n.start_login(A, "alice", "wrong");
        n.d.run_jobs();
        CHECK(n.link.published_of<cluster::LoginFailed>().size() == 1);
        CHECK(n.d.env.pending(A) == 0);
        n.link.answer_flushes(true);
        auto r = n.d.env.pop<LoginResult>(A);
        CHECK(r.outcome == LoginOutcome::wrong_password);
        CHECK(r.value == 2);
    }

    TEST_CASE("a claim refused as taken is already_logged_in; unavailable is unavailable; the name stays free") {
        Node n("node-a");
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::taken);
        for (std::int64_t wait : ChatCore::claim_retry_ms) {
            n.d.advance(wait);
            n.answer_claim(cluster::Claim::taken);
        }
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::already_logged_in);
        n.d.send(A, Login{2, "alice", "alice123"});
        n.answer_claim(cluster::Claim::unavailable);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::unavailable);
        CHECK(n.d.core.online_count() == 0);
        CHECK(n.link.published.empty());
        CHECK(n.link.released.empty()); // never held
        // The connection may try again and win.
        n.d.send(A, Login{3, "alice", "alice123"});
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
    }

    TEST_CASE("with the engine down a login is unavailable at once, without a claim") {
        Node n("node-a");
        n.link.up = false;
        n.start_login(A, "alice", "alice123");
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::unavailable);
        CHECK(n.link.claims.empty());
        CHECK(n.d.env.pending(A) == 0);
    }

    TEST_CASE("a connection that closes while claiming gets nothing; a won claim is released") {
        Node n("node-a");
        n.start_login(A, "alice", "alice123");
        n.d.core.on_disconnect(A, n.now());
        n.answer_claim(cluster::Claim::claimed); // FakeEnv fails on a frame to a gone connection
        CHECK(n.d.env.pending(A) == 0);
        CHECK(n.link.released == std::vector<std::string>{"alice"});
        CHECK(n.link.published.empty());
        CHECK(n.d.core.online_count() == 0);
        CHECK(n.d.core.session_count() == 0);
        // A lost claim of a closed connection is not released (another holds it).
        n.start_login(B, "alice", "alice123");
        n.d.core.on_disconnect(B, n.now());
        n.answer_claim(cluster::Claim::taken);
        CHECK(n.link.released.size() == 1);
    }

    TEST_CASE("a login deadline passing while claiming closes the connection; the claim is then given back") {
        Node n("node-a", 0, [] {
            CoreSettings s;
            s.login_timeout_ms = 5'000;
            return s;
        }());
        n.start_login(A, "alice", "alice123");
        n.d.advance(5'000);
        CHECK(n.d.env.pop<ProtocolError>(A).code == Status::login_timeout);
        CHECK(n.d.env.is_closed(A));
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.link.released == std::vector<std::string>{"alice"});
    }

    TEST_CASE("a second Login while claiming is a protocol error; a second connection's login of the name is refused") {
        Node n("node-a");
        n.d.connect(A);
        n.d.hello(A);
        n.d.connect(B);
        n.d.hello(B);
        n.d.send(A, Login{1, "alice", "alice123"});
        n.d.send(B, Login{1, "alice", "alice123"});
        CHECK(n.d.env.pop<LoginResult>(B).outcome == LoginOutcome::already_logged_in);
        CHECK(n.link.claims.size() == 1); // the name is claimed once
        n.d.send(A, Login{2, "alice", "alice123"});
        CHECK(n.d.env.pop<ProtocolError>(A).code == Status::wrong_state);
        CHECK(n.d.env.is_closed(A));
    }

    TEST_CASE("a lock set while the claim is out refuses the login and gives the name back") {
        Node n("node-a");
        n.start_login(A, "alice", "alice123");
        CHECK(n.d.core.lock("alice", 60, n.now()).code == Status::ok);
        n.answer_claim(cluster::Claim::claimed);
        auto r = n.d.env.pop<LoginResult>(A);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 60);
        CHECK(n.link.released == std::vector<std::string>{"alice"});
        CHECK(n.d.core.online_count() == 0);
    }

    TEST_CASE("the end of a session releases the name, then publishes Offline with the time") {
        Node n("node-a");
        n.online(A, "alice");
        n.link.log.clear();
        n.d.advance(2'000);
        n.d.send(A, Logout{});
        CHECK(n.d.env.pop<SessionEnded>(A).reason == EndReason::logged_out);
        CHECK(n.link.log ==
              std::vector<std::string>{"release alice", "publish " + std::to_string(event_index<cluster::Offline>)});
        auto off = n.link.published_of<cluster::Offline>();
        REQUIRE(off.size() == 1);
        CHECK(off[0].name == "alice");
        CHECK(off[0].node == "node-a");
        CHECK(off[0].at_wall_ms == n.now().wall_ms);
    }

    TEST_CASE("a shutdown releases every name and, given the time, tells the other nodes of the logouts") {
        Node n("node-a");
        n.online(A, "alice");
        n.online(B, "bob");
        n.link.published.clear();
        n.d.core.shutdown(n.now());
        std::vector<std::string> released = n.link.released;
        std::sort(released.begin(), released.end());
        CHECK(released == std::vector<std::string>{"alice", "bob"});
        CHECK(n.link.published_of<cluster::Offline>().size() == 2);
        CHECK(n.d.env.pop<SessionEnded>(A).reason == EndReason::server_shutdown);
        CHECK(n.d.env.is_closed(B));
    }

    TEST_CASE("PrivateListen publishes Online again with the endpoint peers elsewhere dial") {
        Node n("node-a");
        n.online(A, "alice");
        n.d.send(A, PrivateListen{2, "", 7000});
        CHECK(n.d.result(A, 2).code == Status::ok);
        n.d.send(A, PrivateListen{3, "198.51.100.4", 7001});
        CHECK(n.d.result(A, 3).code == Status::ok);
        auto online = n.link.published_of<cluster::Online>();
        REQUIRE(online.size() == 3);
        CHECK(online[1].listen_host == "192.0.2.7"); // empty host: the address it connects from
        CHECK(online[1].listen_port == 7000);
        CHECK(online[2].listen_host == "198.51.100.4");
        CHECK(online[2].listen_port == 7001);
        CHECK(online[2].at_wall_ms == online[0].at_wall_ms); // still the login time
        CHECK(online[1].trusted_address.empty());            // no login: nothing new to trust
        CHECK(online[2].trusted_address.empty());
    }

    TEST_CASE("one session per name across nodes: a login on the other node is refused as today, 0.7 s later") {
        Pair p;
        p.a.online(A, "alice");
        p.b.start_login(A, "alice", "alice123");
        p.b.settle_claims();
        std::int64_t waited = 0;
        for (; p.b.d.env.pending(A) == 0 && waited < 1000; waited += 50) {
            p.bus.advance(50);
            p.b.settle_claims();
        }
        CHECK(p.b.d.env.pop<LoginResult>(A).outcome == LoginOutcome::already_logged_in);
        CHECK(waited == 700);
        CHECK(p.b.link.log.size() == 4);  // the claim and its three retries
        CHECK(p.a.d.env.pending(A) == 0); // the session there is untouched
        p.a.d.send(A, Logout{});
        p.bus.pump();
        CHECK(p.b.login(A, "alice", "alice123", 2).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a fast reconnect through another node: let in once the first node has let the name go") {
        Pair p;
        p.a.online(A, "alice");
        // The connection drops on node a; its release and logout are still on their way when
        // the client, already connected again through node b, logs in there.
        p.a.d.core.on_disconnect(A, p.a.now());
        p.b.start_login(B, "alice", "alice123");
        p.b.bus->settle_claims(p.b); // node a holds the name still
        CHECK(p.b.d.env.pending(B) == 0);
        SUBCASE("the logout heard: claimed again at once") {
            p.bus.pump(); // the release, then the Offline
            CHECK(p.b.link.claims.size() == 1);
        }
        SUBCASE("the release done, its logout not heard yet: claimed again after 100 ms") {
            p.bus.sessions.erase("alice");
            p.b.d.advance(ChatCore::claim_retry_ms[0] - 1);
            CHECK(p.b.link.claims.empty());
            p.b.d.advance(1);
            CHECK(p.b.link.claims.size() == 1);
        }
        p.b.settle_claims();
        CHECK(p.b.d.env.pop<LoginResult>(B).outcome == LoginOutcome::ok);
        CHECK(p.bus.sessions["alice"] == "node-b");
        p.bus.advance(1000);
        CHECK(p.b.link.claims.empty()); // its timer went with the wait
    }

    TEST_CASE("a login waiting to claim again that closes or times out is answered never, the name freed at once") {
        Node n("node-a", 0, [] {
            CoreSettings s;
            s.login_timeout_ms = 50;
            return s;
        }());
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::taken);
        SUBCASE("closed") {
            n.d.core.on_disconnect(A, n.now());
            n.d.env.closed.insert(A); // FakeEnv fails on a frame to it
        }
        SUBCASE("login deadline") {
            n.d.advance(50);
            CHECK(n.d.env.pop<ProtocolError>(A).code == Status::login_timeout);
            CHECK(n.d.env.is_closed(A));
        }
        // The client, back already, is not refused for the wait of its old connection.
        n.start_login(B, "alice", "alice123");
        CHECK(n.link.claims.size() == 1);
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.d.env.pop<LoginResult>(B).outcome == LoginOutcome::ok);
        n.d.advance(1000);
        CHECK(n.link.claims.empty());
        CHECK(n.d.env.pending(A) == 0);
    }

    TEST_CASE("while a login waits to claim again, a second login of the name here is refused at once") {
        Node n("node-a");
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::taken);
        n.start_login(B, "alice", "alice123");
        CHECK(n.d.env.pop<LoginResult>(B).outcome == LoginOutcome::already_logged_in);
        n.d.send(A, WhoElse{2});
        CHECK(n.d.env.pop<Result>(A).code == Status::not_logged_in);
        n.d.advance(ChatCore::claim_retry_ms[0]);
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
        CHECK(n.link.claims.empty());
    }

    TEST_CASE("a lock, or the user's removal, while a login waits to claim again refuses it without a claim") {
        Node n("node-a");
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::taken);
        n.d.advance(ChatCore::claim_retry_ms[0] / 2);
        LoginResult r;
        SUBCASE("locked") {
            CHECK(n.d.core.lock("alice", 60, n.now()).code == Status::ok);
            n.d.advance(ChatCore::claim_retry_ms[0]);
            r = n.d.env.pop<LoginResult>(A);
            CHECK(r.outcome == LoginOutcome::locked);
            CHECK(r.value == 60);
        }
        SUBCASE("removed") {
            n.d.core.replace_users(parse_users("bob bob123\n", "test-users"), n.now());
            n.d.advance(ChatCore::claim_retry_ms[0]);
            r = n.d.env.pop<LoginResult>(A);
            CHECK(r.outcome == LoginOutcome::wrong_password);
        }
        CHECK(n.link.claims.empty());
        CHECK(n.link.released.empty()); // never held
        CHECK(n.d.core.online_count() == 0);
    }

    TEST_CASE("the shared state lost while a login waits to claim again: unavailable at once, exactly once") {
        Node n("node-a");
        n.d.core.on_cluster_available(true, n.now());
        n.start_login(A, "alice", "alice123");
        n.answer_claim(cluster::Claim::taken);
        n.link.up = false;
        n.d.core.on_cluster_available(false, n.now());
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::unavailable);
        n.d.advance(1000);
        CHECK(n.link.claims.empty());
        CHECK(n.d.env.pending(A) == 0);
        // The connection may try again once it is back.
        n.link.up = true;
        n.d.core.on_cluster_available(true, n.now());
        n.d.send(A, Login{2, "alice", "alice123"});
        n.answer_claim(cluster::Claim::claimed);
        CHECK(n.d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
    }
}

// ====================================================================== messages

TEST_SUITE("cluster: messages") {

    TEST_CASE("a message to a user on another node is routed there; ok only once it was delivered") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.a.d.send(A, SendMessage{5, "bob", "hi bob"});
        CHECK(p.a.d.env.pending(A) == 0); // not before the route's answer
        auto routed = p.a.link.sent_of<cluster::Direct>();
        REQUIRE(routed.size() == 1);
        CHECK(routed[0].node == "node-b");
        CHECK(routed[0].tag != 0);
        p.bus.pump();
        auto m = p.b.d.env.pop<MessageEvent>(B);
        CHECK(m.from == "alice");
        CHECK(m.text == "hi bob");
        CHECK(m.flags == 0);
        CHECK(m.sent_at_ms == std::uint64_t(p.a.now().wall_ms));
        CHECK(p.a.d.result(A, 5).code == Status::ok);
    }

    TEST_CASE("the recipient's node decides: blocked there is blocked_by_recipient, its text relayed") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.b.d.send(B, Block{3, "alice"});
        CHECK(p.b.d.result(B, 3).code == Status::ok);
        // Node a has not heard of the block yet: it routes, and node b refuses.
        p.a.d.send(A, SendMessage{5, "bob", "hi bob"});
        p.bus.pump();
        CHECK(p.b.d.env.pending(B) == 0);
        auto r = p.a.d.result(A, 5);
        CHECK(r.code == Status::blocked_by_recipient);
        CHECK(r.detail == "bob has blocked you");
    }

    TEST_CASE("a routed message whose node never answers is unavailable after 5 s, exactly once") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.a.d.send(A, SendMessage{5, "bob", "anyone?"});
        // Delivered to node b's channel, then node b dies before it answers.
        auto routed = p.a.link.sent_of<cluster::Direct>();
        REQUIRE(routed.size() == 1);
        p.a.link.sent_carried = p.a.link.sent.size();
        p.a.d.core.on_routed(routed[0].tag, true, p.a.now());
        p.a.d.advance(4999);
        CHECK(p.a.d.env.pending(A) == 0);
        p.a.d.advance(1);
        auto r = p.a.d.result(A, 5);
        CHECK(r.code == Status::unavailable);
        CHECK(r.detail.find("may not have been delivered") != std::string_view::npos);
        // A late answer changes nothing.
        p.a.d.core.on_cluster_event(cluster::DirectAnswer{routed[0].tag, Status::ok, ""}, p.a.now());
        CHECK(p.a.d.env.pending(A) == 0);
    }

    TEST_CASE("block and unblock are confirmed once the other nodes have them; refused while the engine is down") {
        Node n("node-a");
        n.online(A, "alice");
        n.link.hold_flushes = true;
        n.d.send(A, Block{2, "bob"});
        CHECK(n.link.published_of<cluster::BlockChanged>().size() == 1);
        CHECK(n.d.env.pending(A) == 0);
        n.link.answer_flushes(true);
        auto r = n.d.result(A, 2);
        CHECK(r.code == Status::ok);
        CHECK(r.detail == "bob is blocked");
        n.link.up = false;
        n.d.send(A, Unblock{3, "bob"});
        CHECK(n.d.result(A, 3).code == Status::unavailable);
        CHECK(n.link.published_of<cluster::BlockChanged>().size() == 1);
        n.link.up = true;
        n.d.send(A, Unblock{4, "bob"});
        n.link.answer_flushes(true);
        CHECK(n.d.result(A, 4).detail == "bob is unblocked");
    }

    TEST_CASE("a message to users on the same node never crosses the cluster") {
        Node n("node-a");
        n.online(A, "alice");
        n.online(B, "bob");
        n.link.published.clear();
        n.d.send(A, SendMessage{5, "bob", "hi"});
        CHECK(n.d.env.pop<MessageEvent>(B).text == "hi");
        CHECK(n.d.result(A, 5).code == Status::ok);
        CHECK(n.link.sent.empty());
        CHECK(n.link.published.empty());
        // ... and keeps working with the engine down.
        n.link.up = false;
        n.d.send(A, SendMessage{6, "bob", "still here"});
        CHECK(n.d.env.pop<MessageEvent>(B).text == "still here");
        CHECK(n.d.result(A, 6).code == Status::ok);
    }

    TEST_CASE("a route that finds its node gone stores the message: ok_stored, delivered at the next login") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.bus.gone.insert("node-b"); // killed: not listening any more
        p.a.d.send(A, SendMessage{5, "bob", "are you there"});
        p.bus.pump();
        p.a.d.commit_pending();
        CHECK(p.a.d.result(A, 5).code == Status::ok_stored);
        // bob logs in again on node a once node b is gone (the bus frees its names).
        p.a.d.connect(C);
        p.a.d.hello(C);
        REQUIRE(p.a.login(C, "bob", "bob123").outcome == LoginOutcome::ok);
        auto m = p.a.d.env.pop<MessageEvent>(C);
        CHECK(m.text == "are you there");
        CHECK((m.flags & message_flag_offline) != 0);
    }

    TEST_CASE("with the engine down a message to another node is unavailable; one to an offline user too") {
        struct DownMailbox final : OfflineMailbox {
            DepositResult deposit(const Deposit&) override { return DepositResult::unavailable; }
            void on_stored(std::uint64_t, bool, std::string_view) override {}
            void deliver_waiting(UserId) override {}
            void acknowledge(UserId, std::span<const std::uint64_t>) override {}
            void restore(UserId, UserId, const StoredState::Message&) override {}
            void set_capacity(std::size_t) override {}
            void forget_user(UserId) override {}
            std::optional<std::size_t> held() const override { return std::nullopt; }
        };
        bool made = false;
        Node a("node-a", 1, {}, [&](MailboxEvents&, const UserDirectory& dir, std::size_t) {
            made = dir.find("alice").has_value() && !dir.find("nobody") && dir.name_of(*dir.find("bob")) == "bob";
            return std::make_unique<DownMailbox>();
        });
        CHECK(made);
        Node b("node-b", 2);
        Bus bus{&a, &b};
        a.online(A, "alice");
        b.online(B, "bob");
        a.link.up = false;
        a.d.core.on_cluster_available(false, a.now());
        a.d.send(A, SendMessage{5, "bob", "hello"});
        auto r = a.d.result(A, 5);
        CHECK(r.code == Status::unavailable);
        CHECK(r.detail == "service temporarily unavailable; try again");
        CHECK(a.link.sent.empty());
        a.d.send(A, SendMessage{6, "carol", "hello"});
        CHECK(a.d.result(A, 6).code == Status::unavailable);
        CHECK(a.d.env.pending(A) == 0); // exactly one reply each
        CHECK(to_string(Status::unavailable) == "service temporarily unavailable");
    }

    TEST_CASE("a Direct for a user who has just left goes to the mailbox; its node hears it was stored") {
        Node n("node-a");
        n.online(A, "alice");
        n.d.send(A, Logout{});
        n.d.env.drain_all();
        n.d.core.on_cluster_event(cluster::Direct{"alice", "bob", 4242, n.now().wall_ms, "late", "node-b", 9}, n.now());
        REQUIRE(n.d.env.uncommitted.size() == 1);
        auto* ins = std::get_if<store_op::InsertMessage>(&n.d.env.persisted.back());
        REQUIRE(ins);
        CHECK(ins->recipient == "alice");
        CHECK(ins->sender == "bob");
        CHECK(ins->id == 4242);
        CHECK(n.link.sent_of<cluster::DirectAnswer>().empty()); // "stored" only once it is
        n.d.commit_pending();
        CHECK(n.d.env.inbox.empty());
        auto answers = n.link.sent_of<cluster::DirectAnswer>();
        REQUIRE(answers.size() == 1);
        CHECK(answers[0].node == "node-b");
        CHECK(std::get<cluster::DirectAnswer>(answers[0].event).tag == 9);
        CHECK(std::get<cluster::DirectAnswer>(answers[0].event).status == Status::ok_stored);
        n.d.connect(B);
        n.d.hello(B);
        REQUIRE(n.login(B, "alice", "alice123").outcome == LoginOutcome::ok);
        auto m = n.d.env.pop<MessageEvent>(B);
        CHECK(m.message_id == 4242);
        CHECK(m.text == "late");
        CHECK((m.flags & message_flag_offline) != 0);
    }

    TEST_CASE("a Direct for a local user is shown to them, unless they blocked its sender: their node decides") {
        Node n("node-a");
        n.online(A, "alice");
        n.d.core.on_cluster_event(cluster::Direct{"alice", "bob", 77, n.now().wall_ms, "from b", "node-b", 5}, n.now());
        auto m = n.d.env.pop<MessageEvent>(A);
        CHECK(m.message_id == 77);
        CHECK(m.from == "bob");
        n.d.send(A, Block{2, "bob"});
        CHECK(n.d.result(A, 2).code == Status::ok);
        n.d.core.on_cluster_event(cluster::Direct{"alice", "bob", 78, n.now().wall_ms, "blocked", "node-b", 6},
                                  n.now());
        CHECK(n.d.env.pending(A) == 0);
        auto answers = n.link.sent_of<cluster::DirectAnswer>();
        REQUIRE(answers.size() == 2);
        const auto& ok = std::get<cluster::DirectAnswer>(answers[0].event);
        CHECK(ok.tag == 5);
        CHECK(ok.status == Status::ok);
        const auto& refused = std::get<cluster::DirectAnswer>(answers[1].event);
        CHECK(refused.tag == 6);
        CHECK(refused.status == Status::blocked_by_recipient);
        CHECK(refused.detail == "alice has blocked you");
    }

    TEST_CASE("a batch of Directs is decided message by message, in its order, each answered") {
        Node n("node-a");
        n.online(A, "alice");
        n.online(B, "carol");
        n.d.send(B, Block{1, "bob"});
        CHECK(n.d.result(B, 1).code == Status::ok);
        const std::int64_t at = n.now().wall_ms;
        n.d.core.on_cluster_event(cluster::Directs{{cluster::Direct{"alice", "bob", 90, at, "one", "node-b", 11},
                                                    cluster::Direct{"carol", "bob", 91, at, "hidden", "node-b", 12},
                                                    cluster::Direct{"alice", "bob", 92, at, "two", "node-b", 13}}},
                                  n.now());
        CHECK(n.d.env.pop<MessageEvent>(A).text == "one");
        CHECK(n.d.env.pop<MessageEvent>(A).text == "two");
        CHECK(n.d.env.pending(B) == 0);
        auto answers = n.link.sent_of<cluster::DirectAnswer>();
        REQUIRE(answers.size() == 3);
        CHECK(answers[0].node == "node-b");
        CHECK(std::get<cluster::DirectAnswer>(answers[0].event).tag == 11);
        CHECK(std::get<cluster::DirectAnswer>(answers[0].event).status == Status::ok);
        CHECK(std::get<cluster::DirectAnswer>(answers[1].event).tag == 12);
        CHECK(std::get<cluster::DirectAnswer>(answers[1].event).status == Status::blocked_by_recipient);
        CHECK(std::get<cluster::DirectAnswer>(answers[2].event).tag == 13);
        CHECK(std::get<cluster::DirectAnswer>(answers[2].event).status == Status::ok);
    }

    TEST_CASE("message ids are distinct across nodes at the same instant, and end in the node's ordinal") {
        Pair p;
        p.a.online(A, "alice");
        p.a.online(B, "carol");
        p.b.online(B, "bob");
        p.b.online(C, "dave");
        std::set<std::uint64_t> ids;
        for (std::uint32_t i = 0; i < 5; ++i) {
            p.a.d.send(A, SendMessage{i, "carol", "x"});
            p.b.d.send(B, SendMessage{i, "dave", "y"});
            auto ma = p.a.d.env.pop<MessageEvent>(B);
            auto mb = p.b.d.env.pop<MessageEvent>(C);
            CHECK((ma.message_id & 1023) == 1);
            CHECK((mb.message_id & 1023) == 2);
            ids.insert(ma.message_id);
            ids.insert(mb.message_id);
        }
        CHECK(ids.size() == 10);
    }

    TEST_CASE("a node whose ordinal changes while it runs makes ids ending in the new one, still increasing") {
        Pair p;
        p.a.online(A, "alice");
        p.a.online(B, "carol");
        p.a.d.send(A, SendMessage{1, "carol", "before"});
        const auto before = p.a.d.env.pop<MessageEvent>(B).message_id;
        p.a.link.ordinal = 7; // its slot was taken while it was cut off from the engine
        p.a.d.send(A, SendMessage{2, "carol", "after"});
        const auto after = p.a.d.env.pop<MessageEvent>(B).message_id;
        CHECK((before & 1023) == 1);
        CHECK((after & 1023) == 7);
        CHECK(after > before);
    }
}

// ====================================================================== broadcast

TEST_SUITE("cluster: broadcast") {

    TEST_CASE("a broadcast reaches every node's users; ok_partial when a user elsewhere blocks the sender") {
        Pair p;
        p.a.online(A, "alice");
        p.a.online(B, "bob");
        p.b.online(C, "carol");
        p.b.online(D, "dave");
        p.a.d.send(A, Broadcast{1, "hello all"});
        CHECK(p.a.d.result(A, 1).code == Status::ok);
        CHECK(p.a.d.env.pop<BroadcastEvent>(B).text == "hello all"); // at once, locally
        p.bus.pump();
        CHECK(p.b.d.env.pop<BroadcastEvent>(C).from == "alice");
        CHECK(p.b.d.env.pop<BroadcastEvent>(D).text == "hello all");
        // carol (on b) blocks alice: the block reaches a's replica.
        p.b.d.send(C, Block{2, "alice"});
        CHECK(p.b.d.result(C, 2).code == Status::ok);
        p.bus.pump();
        p.a.d.send(A, Broadcast{3, "again"});
        CHECK(p.a.d.result(A, 3).code == Status::ok_partial);
        p.bus.pump();
        CHECK(p.b.d.env.pending(C) == 0);
        CHECK(p.b.d.env.pop<BroadcastEvent>(D).text == "again");
        CHECK(p.a.d.env.pop<BroadcastEvent>(B).text == "again");
    }

    TEST_CASE("ok_partial lasts while a user elsewhere who blocks the sender is online and blocking") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(C, "carol");
        p.b.online(D, "dave");
        auto broadcast = [&](std::uint32_t rid) {
            p.a.d.send(A, Broadcast{rid, "hi"});
            const Status code = p.a.d.result(A, rid).code;
            p.bus.pump();
            p.b.d.env.drain_all();
            return code;
        };
        p.b.d.send(C, Block{1, "alice"});
        p.b.d.send(D, Block{2, "alice"});
        p.bus.pump();
        p.b.d.env.drain_all();
        CHECK(broadcast(3) == Status::ok_partial);
        p.b.d.send(C, Unblock{4, "alice"});
        p.bus.pump();
        CHECK(broadcast(5) == Status::ok_partial); // dave still blocks her
        p.b.d.send(D, Logout{});
        p.bus.pump();
        p.b.d.env.drain_all();
        CHECK(broadcast(6) == Status::ok); // dave blocks her but is not online
        p.b.online(D, "dave");
        p.bus.pump();
        CHECK(broadcast(7) == Status::ok_partial); // back, still blocking
        p.b.d.send(D, Unblock{8, "alice"});
        p.bus.pump();
        CHECK(broadcast(9) == Status::ok);
    }

    TEST_CASE("a broadcast is charged for the users it reaches on other nodes too") {
        CoreSettings s;
        s.user_deliveries = Rate{1, 1};
        Pair p(s);
        p.a.online(A, "alice");
        p.a.d.send(A, Broadcast{1, "alone"});
        CHECK(p.a.d.result(A, 1).code == Status::ok);
        p.a.d.send(A, Broadcast{2, "alone"});
        CHECK(p.a.d.result(A, 2).code == Status::ok); // reaching nobody costs nothing
        p.b.online(B, "bob");
        p.b.online(C, "carol");
        p.b.online(D, "dave");
        p.a.d.send(A, Broadcast{3, "three elsewhere"});
        CHECK(p.a.d.result(A, 3).code == Status::ok);
        p.a.d.send(A, Broadcast{4, "too soon"});
        CHECK(p.a.d.result(A, 4).code == Status::rate_limited);
    }

    TEST_CASE("with the engine down a broadcast reaches this node's users and says the others were not reached") {
        Pair p;
        p.a.online(A, "alice");
        p.a.online(B, "bob");
        p.b.online(C, "carol");
        p.a.link.up = false;
        p.a.d.send(A, Broadcast{1, "anyone"});
        auto r = p.a.d.result(A, 1);
        CHECK(r.code == Status::ok_partial);
        CHECK(r.detail.find("other servers") != std::string_view::npos);
        CHECK(p.a.d.env.pop<BroadcastEvent>(B).text == "anyone");
        CHECK(p.a.link.published_of<cluster::Broadcast>().empty());
        CHECK(p.a.d.env.pending(A) == 0);
    }
}

// ====================================================================== presence

TEST_SUITE("cluster: presence") {

    TEST_CASE("logins and logouts elsewhere are announced, whoelse lists them, blocks hide them") {
        Pair p;
        p.a.online(A, "alice");
        p.b.d.connect(B);
        p.b.d.hello(B);
        REQUIRE(p.b.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        p.b.d.env.drain(B);
        auto came = p.a.d.env.pop<PresenceEvent>(A);
        CHECK(came.kind == PresenceKind::login);
        CHECK(came.user == "bob");
        p.a.d.send(A, WhoElse{1});
        CHECK(names_of(p.a.d.env.pop<UserList>(A)) == Names{"bob"});
        p.b.d.send(B, WhoElse{1});
        CHECK(names_of(p.b.d.env.pop<UserList>(B)) == Names{"alice"});
        // carol on b has blocked alice: alice is not told of her and does not see her.
        p.b.d.connect(C);
        p.b.d.hello(C);
        REQUIRE(p.b.login(C, "carol", "carol123").outcome == LoginOutcome::ok);
        p.b.d.env.drain(C);
        p.a.d.env.drain(A);
        p.b.d.send(C, Block{2, "alice"});
        p.b.d.env.drain(C);
        p.b.d.send(C, Logout{});
        p.bus.pump();
        CHECK(p.a.d.env.pending(A) == 0); // carol's logout is hidden from alice too
        p.b.online(C, "carol");
        p.bus.pump();
        CHECK(p.a.d.env.pending(A) == 0);
        p.a.d.send(A, WhoElse{3});
        CHECK(names_of(p.a.d.env.pop<UserList>(A)) == Names{"bob"});
        // bob leaves: alice is told, and whoelsesince still lists him.
        p.bus.advance(3'000);
        p.b.d.send(B, Logout{});
        p.bus.pump();
        auto ev = p.a.d.env.pop<PresenceEvent>(A);
        CHECK(ev.kind == PresenceKind::logout);
        CHECK(ev.user == "bob");
        p.bus.advance(4'000);
        p.a.d.send(A, WhoElse{4});
        CHECK(names_of(p.a.d.env.pop<UserList>(A)).empty());
        p.a.d.send(A, WhoElseSinceSeen{5, 60});
        auto seen = p.a.d.env.pop<UserSeenList>(A);
        REQUIRE(seen.names.size() == 1);
        CHECK(seen.names[0] == "bob");
        CHECK(seen.offline_for_s[0] == 4);
    }

    TEST_CASE("NodeDown logs out every user of that node, last seen now") {
        Node a("node-a", 1);
        a.online(A, "alice");
        a.d.core.on_cluster_event(cluster::Online{"bob", "node-b", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        a.d.core.on_cluster_event(cluster::Online{"carol", "node-b", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        a.d.core.on_cluster_event(cluster::Online{"dave", "node-c", a.now().wall_ms, "192.0.2.10", 0, ""}, a.now());
        CHECK(a.d.env.take_all<PresenceEvent>(A).size() == 3);
        CHECK(a.d.core.remote_online_count() == 3);
        a.d.advance(1'000);
        a.d.core.on_cluster_event(cluster::NodeDown{"node-b"}, a.now());
        auto gone = a.d.env.take_all<PresenceEvent>(A);
        REQUIRE(gone.size() == 2);
        CHECK(gone[0].kind == PresenceKind::logout);
        CHECK(gone[0].user == "bob");
        CHECK(gone[1].user == "carol");
        a.d.send(A, WhoElse{1});
        CHECK(names_of(a.d.env.pop<UserList>(A)) == Names{"dave"});
        a.d.advance(2'000);
        a.d.send(A, WhoElseSinceSeen{2, 10});
        auto seen = a.d.env.pop<UserSeenList>(A);
        CHECK(seen.offline_for_s == std::vector<std::uint32_t>{2, 2, 0});
    }

    TEST_CASE("a Snapshot replaces the replica and announces only what changed") {
        Node a("node-a", 1);
        a.online(A, "alice");
        a.d.core.on_cluster_event(cluster::Online{"bob", "node-b", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        a.d.core.on_cluster_event(cluster::Online{"carol", "node-b", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        a.d.env.drain(A);
        cluster::Snapshot snap;
        snap.online.push_back({"carol", "node-b", a.now().wall_ms, "192.0.2.9", 0, ""});
        snap.online.push_back({"dave", "node-c", a.now().wall_ms, "192.0.2.10", 0, ""});
        snap.online.push_back({"alice", "node-a", a.now().wall_ms, "192.0.2.7", 0, ""}); // ourselves: ignored
        snap.last_seen.push_back({"bob", a.now().wall_ms - 30'000});
        a.d.core.on_cluster_event(snap, a.now());
        auto ev = a.d.env.take_all<PresenceEvent>(A);
        REQUIRE(ev.size() == 2);
        CHECK(ev[0].kind == PresenceKind::logout);
        CHECK(ev[0].user == "bob");
        CHECK(ev[1].kind == PresenceKind::login);
        CHECK(ev[1].user == "dave");
        a.d.send(A, WhoElse{1});
        CHECK(names_of(a.d.env.pop<UserList>(A)) == Names{"carol", "dave"});
        CHECK(a.d.core.online_count() == 1);
    }

    TEST_CASE("Online and Offline from this very node, or an Offline of a node the user has left, change nothing") {
        Node a("node-a", 1);
        a.online(A, "alice");
        a.d.core.on_cluster_event(cluster::Online{"bob", "node-c", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        a.d.env.drain(A);
        a.d.core.on_cluster_event(cluster::Offline{"bob", "node-b", a.now().wall_ms}, a.now()); // an older session
        a.d.core.on_cluster_event(cluster::Online{"carol", "node-a", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        CHECK(a.d.env.pending(A) == 0);
        a.d.send(A, WhoElse{1});
        CHECK(names_of(a.d.env.pop<UserList>(A)) == Names{"bob"});
    }
}

// ====================================================================== lockout and administration

TEST_SUITE("cluster: lockout and administration") {

    TEST_CASE("two wrong passwords on one node and one on the other lock the name on both") {
        Pair p;
        p.a.d.connect(A);
        p.a.d.hello(A);
        p.b.d.connect(B);
        p.b.d.hello(B);
        CHECK(p.a.login(A, "alice", "wrong").value == 2);
        p.bus.pump();
        CHECK(p.a.login(A, "alice", "wrong", 2).value == 1);
        p.bus.pump();
        auto r = p.b.login(B, "alice", "wrong");
        CHECK(r.outcome == LoginOutcome::locked);
        p.bus.pump();
        CHECK(p.a.login(A, "alice", "alice123", 3).outcome == LoginOutcome::locked);
        CHECK(p.b.login(B, "alice", "alice123", 2).outcome == LoginOutcome::locked);
        CHECK(p.a.link.claims.empty());
        CHECK(p.b.link.claims.empty());
        // The lock runs out on both.
        p.bus.advance(10'000);
        CHECK(p.a.login(A, "alice", "alice123", 4).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a successful login starts the count again on every node") {
        Pair p;
        p.a.d.connect(A);
        p.a.d.hello(A);
        p.b.d.connect(B);
        p.b.d.hello(B);
        CHECK(p.a.login(A, "alice", "wrong").value == 2);
        CHECK(p.a.login(A, "alice", "wrong", 2).value == 1);
        p.bus.pump();
        REQUIRE(p.a.login(A, "alice", "alice123", 3).outcome == LoginOutcome::ok);
        p.a.d.send(A, Logout{});
        p.bus.pump();
        CHECK(p.b.login(B, "alice", "wrong").value == 2);
    }

    TEST_CASE("an administrator's lock on one node ends the session on another and refuses logins there") {
        Pair p;
        p.b.online(B, "bob");
        auto r = p.a.d.core.lock("bob", 60, p.a.now());
        CHECK(r.code == Status::ok);
        p.bus.pump();
        auto e = p.b.d.env.pop<SessionEnded>(B);
        CHECK(e.reason == EndReason::locked);
        CHECK(p.b.d.env.is_closed(B));
        p.b.d.connect(C);
        p.b.d.hello(C);
        auto l = p.b.login(C, "bob", "bob123");
        CHECK(l.outcome == LoginOutcome::locked);
        CHECK(l.value == 60);
        CHECK(p.a.d.core.unlock("bob", p.a.now()).code == Status::ok);
        p.bus.pump();
        CHECK(p.b.login(C, "bob", "bob123", 2).outcome == LoginOutcome::ok);
    }

    TEST_CASE("kick of a user on another node ends that session there") {
        Pair p;
        p.b.online(B, "bob");
        auto r = p.a.d.core.kick("bob", "enough", p.a.now());
        CHECK(r.code == Status::ok);
        auto sent = p.a.link.sent_of<cluster::EndSession>();
        REQUIRE(sent.size() == 1);
        CHECK(sent[0].node == "node-b");
        p.bus.pump();
        auto e = p.b.d.env.pop<SessionEnded>(B);
        CHECK(e.reason == EndReason::kicked);
        CHECK(e.detail == "enough");
        CHECK(p.a.d.core.kick("bob", "", p.a.now()).code == Status::user_offline);
        p.b.online(B, "bob");
        p.a.link.up = false;
        CHECK(p.a.d.core.kick("bob", "", p.a.now()).code == Status::unavailable);
    }

    TEST_CASE("wall reaches the users of every node") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.b.online(C, "carol");
        auto r = p.a.d.core.wall("maintenance at noon", p.a.now());
        CHECK(r.code == Status::ok);
        CHECK(r.detail == "sent to 3 user(s)");
        CHECK(p.a.d.env.pop<ServerNotice>(A).text == "maintenance at noon");
        p.bus.pump();
        CHECK(p.b.d.env.pop<ServerNotice>(B).text == "maintenance at noon");
        CHECK(p.b.d.env.pop<ServerNotice>(C).text == "maintenance at noon");
    }
}

// ====================================================================== private chats

TEST_SUITE("cluster: private chat") {

    TEST_CASE("an introduction across nodes: the intro at once with the peer's endpoint, the invite there") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.bus.pump();
        p.a.d.send(A, StartPrivate{1, "bob"});
        CHECK(p.a.d.result(A, 1).code == Status::no_private_endpoint);
        p.b.d.send(B, PrivateListen{1, "198.51.100.2", 7000});
        CHECK(p.b.d.result(B, 1).code == Status::ok);
        p.bus.pump();
        p.a.d.env.drain(A);
        p.a.d.send(A, StartPrivate{2, "bob"});
        auto intro = p.a.d.env.pop<PrivateIntro>(A);
        CHECK(intro.peer == "bob");
        CHECK(intro.host == "198.51.100.2");
        CHECK(intro.port == 7000);
        p.bus.pump();
        auto invite = p.b.d.env.pop<PrivateInvite>(B);
        CHECK(invite.peer == "alice");
        CHECK(invite.token == intro.token);
        // Both sides know the pair: stopping on either side is ok, then it is gone on both.
        p.b.d.send(B, StopPrivate{2, "alice"});
        CHECK(p.b.d.result(B, 2).code == Status::ok);
        p.bus.pump();
        p.a.d.send(A, StopPrivate{3, "bob"});
        CHECK(p.a.d.result(A, 3).code == Status::no_private_session);
    }

    TEST_CASE("blocking a peer on another node revokes the pair there; a logout ends it silently") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.b.d.send(B, PrivateListen{1, "", 7000});
        p.b.d.env.drain(B);
        p.bus.pump();
        p.a.d.env.drain(A);
        p.a.d.send(A, StartPrivate{2, "bob"});
        p.a.d.env.pop<PrivateIntro>(A);
        p.bus.pump();
        p.b.d.env.pop<PrivateInvite>(B);
        p.a.d.send(A, Block{3, "bob"});
        CHECK(p.a.d.env.pop<PrivateRevoked>(A).peer == "bob");
        CHECK(p.a.d.result(A, 3).code == Status::ok);
        p.bus.pump();
        CHECK(p.b.d.env.pop<PrivateRevoked>(B).peer == "alice");
        // Again after an unblock, ended by a logout this time: forgotten on b, nothing said.
        p.a.d.send(A, Unblock{4, "bob"});
        p.a.d.env.drain(A);
        p.bus.pump();
        p.a.d.send(A, StartPrivate{5, "bob"});
        p.a.d.env.pop<PrivateIntro>(A);
        p.bus.pump();
        p.b.d.env.pop<PrivateInvite>(B);
        p.a.d.send(A, Logout{});
        p.bus.pump();
        p.b.d.env.take_all<PresenceEvent>(B);
        CHECK(p.b.d.env.pending(B) == 0);
        p.b.d.send(B, StopPrivate{2, "alice"});
        CHECK(p.b.d.result(B, 2).code == Status::no_private_session);
    }

    TEST_CASE("a late end of a stopped pair leaves the new one its peer started meanwhile: a block then revokes it") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.a.d.send(A, PrivateListen{1, "", 7000});
        p.b.d.send(B, PrivateListen{1, "", 7001});
        p.bus.pump();
        p.a.d.env.drain(A);
        p.b.d.env.drain(B);
        p.a.d.send(A, StartPrivate{2, "bob"});
        p.a.d.env.pop<PrivateIntro>(A);
        p.bus.pump();
        p.b.d.env.pop<PrivateInvite>(B);
        // alice stops; bob starts again before the end reaches node b.
        p.a.d.send(A, StopPrivate{3, "bob"});
        CHECK(p.a.d.result(A, 3).code == Status::ok);
        p.b.d.send(B, StartPrivate{2, "alice"});
        const Token token = p.b.d.env.pop<PrivateIntro>(B).token;
        p.bus.pump(); // node a's PairEnded reaches b first, then b's Invite reaches a
        CHECK(p.a.d.env.pop<PrivateInvite>(A).token == token);
        CHECK(p.b.d.env.pending(B) == 0);
        // The new pair is known at both ends: bob's block ends it at both.
        p.b.d.send(B, Block{3, "alice"});
        CHECK(p.b.d.env.pop<PrivateRevoked>(B).peer == "alice");
        CHECK(p.b.d.result(B, 3).code == Status::ok);
        p.bus.pump();
        CHECK(p.a.d.env.pop<PrivateRevoked>(A).peer == "bob");
    }
}

// ====================================================================== private chat races

// alice on node a and bob on node b, both listening for private chats; nothing left unread.
void listening(Pair& p) {
    p.a.online(A, "alice");
    p.b.online(B, "bob");
    p.a.d.send(A, PrivateListen{1, "", 7000});
    p.b.d.send(B, PrivateListen{1, "", 7001});
    p.bus.pump();
    p.a.drain_everywhere();
}

// The private pairs `name` has on `n`, as `confabctl who` counts them.
std::uint16_t chats_of(const Node& n, std::string_view name) {
    for (const auto& u : n.d.core.who(n.now()))
        if (u.name == name) return u.private_chats;
    FAIL("not online: ", std::string(name));
    return 0;
}

TEST_SUITE("cluster: private chat races") {

    TEST_CASE("starts that crossed, then a stop before the peer's invitation came: the peer's introduction stays at "
              "both ends") {
        for (const bool alice_stops : {true, false})
            for (const bool a_first : {true, false}) {
                INFO("alice stops: ", alice_stops, "; node a's events arrive first: ", a_first);
                Pair p;
                listening(p);
                p.a.d.send(A, StartPrivate{2, "bob"});
                const Token from_alice = p.a.d.env.pop<PrivateIntro>(A).token;
                p.b.d.send(B, StartPrivate{2, "alice"});
                const Token from_bob = p.b.d.env.pop<PrivateIntro>(B).token;
                CHECK(from_alice != from_bob);
                // One side stops before the other's invitation reached its node: that ends its own
                // introduction; the other's, still on its way, is a new one for it.
                Node& stopper = alice_stops ? p.a : p.b;
                Node& other = alice_stops ? p.b : p.a;
                const ConnId stopper_conn = alice_stops ? A : B, other_conn = alice_stops ? B : A;
                const std::string stopper_name = alice_stops ? "alice" : "bob",
                                  other_name = alice_stops ? "bob" : "alice";
                stopper.d.send(stopper_conn, StopPrivate{3, other_name});
                CHECK(stopper.d.result(stopper_conn, 3).code == Status::ok);
                p.bus.carry(a_first ? p.a : p.b);
                p.bus.carry(a_first ? p.b : p.a);
                p.bus.pump();
                // Each user holds the other's invitation, and both nodes know the pair left.
                CHECK(p.a.d.env.pop<PrivateInvite>(A).token == from_bob);
                CHECK(p.b.d.env.pop<PrivateInvite>(B).token == from_alice);
                CHECK(p.a.d.env.pending(A) == 0);
                CHECK(p.b.d.env.pending(B) == 0);
                CHECK(chats_of(p.a, "alice") == 1);
                CHECK(chats_of(p.b, "bob") == 1);
                // So a block by the user who did not stop revokes it at both ends.
                other.d.send(other_conn, Block{4, stopper_name});
                CHECK(other.d.env.pop<PrivateRevoked>(other_conn).peer == stopper_name);
                CHECK(other.d.result(other_conn, 4).code == Status::ok);
                p.bus.pump();
                CHECK(stopper.d.env.pop<PrivateRevoked>(stopper_conn).peer == other_name);
                CHECK(chats_of(p.a, "alice") == 0);
                CHECK(chats_of(p.b, "bob") == 0);
            }
    }

    TEST_CASE("starts that crossed, then a stop once the stopper's node had the peer's invitation: the pair ends at "
              "both ends") {
        Pair p;
        listening(p);
        p.a.d.send(A, StartPrivate{2, "bob"});
        const Token from_alice = p.a.d.env.pop<PrivateIntro>(A).token;
        p.b.d.send(B, StartPrivate{2, "alice"});
        const Token from_bob = p.b.d.env.pop<PrivateIntro>(B).token;
        SUBCASE("each node had the other's invitation") {
            p.bus.pump();
        }
        SUBCASE("only node a had bob's") {
            p.bus.carry(p.b);
        }
        CHECK(p.a.d.env.pop<PrivateInvite>(A).token == from_bob);
        p.a.d.send(A, StopPrivate{3, "bob"});
        CHECK(p.a.d.result(A, 3).code == Status::ok);
        p.bus.pump();
        CHECK(p.b.d.env.pop<PrivateInvite>(B).token == from_alice);
        CHECK(p.b.d.env.pending(B) == 0);
        CHECK(chats_of(p.a, "alice") == 0);
        CHECK(chats_of(p.b, "bob") == 0);
        p.b.d.send(B, StopPrivate{3, "alice"});
        CHECK(p.b.d.result(B, 3).code == Status::no_private_session);
    }

    TEST_CASE("both stop before either invitation came: no pair is left anywhere") {
        Pair p;
        listening(p);
        p.a.d.send(A, StartPrivate{2, "bob"});
        const Token from_alice = p.a.d.env.pop<PrivateIntro>(A).token;
        p.b.d.send(B, StartPrivate{2, "alice"});
        const Token from_bob = p.b.d.env.pop<PrivateIntro>(B).token;
        p.a.d.send(A, StopPrivate{3, "bob"});
        CHECK(p.a.d.result(A, 3).code == Status::ok);
        p.b.d.send(B, StopPrivate{3, "alice"});
        CHECK(p.b.d.result(B, 3).code == Status::ok);
        SUBCASE("node a's events arrive first") {
            p.bus.carry(p.a);
        }
        SUBCASE("node b's events arrive first") {
            p.bus.carry(p.b);
        }
        p.bus.pump();
        // The invitations were on their way; the ends that followed them leave nothing.
        CHECK(p.a.d.env.pop<PrivateInvite>(A).token == from_bob);
        CHECK(p.b.d.env.pop<PrivateInvite>(B).token == from_alice);
        CHECK(chats_of(p.a, "alice") == 0);
        CHECK(chats_of(p.b, "bob") == 0);
    }

    TEST_CASE("a stop and a new start by the same user before anything arrived: only the new introduction stays") {
        Pair p;
        listening(p);
        p.a.d.send(A, StartPrivate{2, "bob"});
        const Token first = p.a.d.env.pop<PrivateIntro>(A).token;
        p.a.d.send(A, StopPrivate{3, "bob"});
        CHECK(p.a.d.result(A, 3).code == Status::ok);
        p.a.d.send(A, StartPrivate{4, "bob"});
        const Token second = p.a.d.env.pop<PrivateIntro>(A).token;
        p.bus.pump();
        CHECK(p.b.d.env.pop<PrivateInvite>(B).token == first);
        CHECK(p.b.d.env.pop<PrivateInvite>(B).token == second);
        CHECK(chats_of(p.a, "alice") == 1);
        CHECK(chats_of(p.b, "bob") == 1);
        p.b.d.send(B, StopPrivate{3, "alice"});
        CHECK(p.b.d.result(B, 3).code == Status::ok);
        p.bus.pump();
        CHECK(chats_of(p.a, "alice") == 0);
        p.a.d.send(A, StopPrivate{5, "bob"});
        CHECK(p.a.d.result(A, 5).code == Status::no_private_session);
    }

    TEST_CASE("a logout that crosses the peer's start: no pair is left at either node") {
        Pair p;
        listening(p);
        p.b.d.send(B, StartPrivate{2, "alice"});
        p.b.d.env.pop<PrivateIntro>(B);
        p.a.d.send(A, Logout{}); // before bob's invitation reached node a
        CHECK(p.a.d.env.pop<SessionEnded>(A).reason == EndReason::logged_out);
        SUBCASE("the logout reaches node b first") {
            p.bus.carry(p.a);
            p.bus.carry(p.b);
        }
        SUBCASE("the invitation reaches node a first") {
            p.bus.carry(p.b);
            p.bus.carry(p.a);
        }
        p.bus.pump();
        CHECK(p.b.d.env.pop<PresenceEvent>(B).kind == PresenceKind::logout);
        CHECK(p.b.d.env.pending(B) == 0);
        CHECK(chats_of(p.b, "bob") == 0);
        p.b.d.send(B, StopPrivate{3, "alice"});
        CHECK(p.b.d.result(B, 3).code == Status::no_private_session);
    }

    TEST_CASE("a block that crosses the blocked user's start: the blocker is not invited, the blocked user hears "
              "PrivateRevoked") {
        Pair p;
        listening(p);
        p.b.d.send(B, StartPrivate{2, "alice"});
        p.b.d.env.pop<PrivateIntro>(B);
        p.a.d.send(A, Block{2, "bob"}); // before bob's invitation reached node a
        CHECK(p.a.d.result(A, 2).code == Status::ok);
        SUBCASE("the block reaches node b first") {
            p.bus.carry(p.a);
            p.bus.carry(p.b);
        }
        SUBCASE("the invitation reaches node a first") {
            p.bus.carry(p.b);
            p.bus.carry(p.a);
        }
        p.bus.pump();
        CHECK(p.a.d.env.pending(A) == 0);
        CHECK(p.b.d.env.pop<PrivateRevoked>(B).peer == "alice");
        CHECK(p.b.d.env.pending(B) == 0);
        CHECK(chats_of(p.a, "alice") == 0);
        CHECK(chats_of(p.b, "bob") == 0);
    }
}

// ====================================================================== the engine going and coming back

TEST_SUITE("cluster: engine down and back") {

    TEST_CASE("every request gets exactly one reply while the engine is down") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.b.d.send(B, PrivateListen{1, "", 7000});
        p.bus.pump();
        p.a.d.env.drain(A);
        p.a.link.up = false;
        p.a.d.core.on_cluster_available(false, p.a.now());
        std::uint32_t rid = 10;
        const std::vector<Message> requests{
            SendMessage{rid, "bob", "x"}, Broadcast{rid + 1, "y"},      WhoElse{rid + 2},
            Block{rid + 3, "carol"},      StartPrivate{rid + 4, "bob"}, WhoElseSince{rid + 5, 60},
        };
        for (const auto& m : requests) p.a.d.send(A, m);
        p.bus.pump();
        auto& q = p.a.d.env.inbox[A];
        REQUIRE(q.size() == requests.size());
        for (std::size_t i = 0; i < q.size(); ++i) {
            std::uint32_t got = std::visit(
                [](const auto& m) -> std::uint32_t {
                    if constexpr (requires { m.request_id; }) return m.request_id;
                    return 0;
                },
                q[i]);
            CHECK(got == rid + i);
        }
        CHECK(std::get<Result>(q[0]).code == Status::unavailable);
        CHECK(std::get<Result>(q[4]).code == Status::unavailable);
    }

    TEST_CASE("an engine that answers a claim from inside claim() is served as well") {
        Node a("node-a", 1);
        a.link.core = &a.d.core;
        a.link.at = a.now();
        a.link.answer_at_once = [](std::string_view) { return cluster::Claim::claimed; };
        a.online(A, "alice");
        a.online(B, "bob");
        a.online(C, "carol");
        CHECK(a.d.core.online_count() == 3);
        // Back after a cut: every name was taken elsewhere meanwhile; each session ends, once.
        a.d.core.on_cluster_available(false, a.now());
        a.d.core.on_cluster_available(true, a.now());
        cluster::Snapshot back = snapshot_with_stored({});
        back.reclaim->taken = {"alice", "bob", "carol"};
        a.d.core.on_cluster_event(back, a.now());
        for (ConnId c : {A, B, C}) {
            CHECK(a.d.env.take_all<SessionEnded>(c).size() == 1);
            CHECK(a.d.env.is_closed(c));
        }
        CHECK(a.d.core.online_count() == 0);
        CHECK(a.d.core.session_count() == 0);
    }

    TEST_CASE("when the engine is back, the sessions it claimed again are announced again; one taken ends") {
        Node a("node-a", 1);
        a.online(A, "alice");
        a.online(B, "bob");
        a.online(C, "carol");
        a.link.published.clear();
        a.link.up = false;
        a.d.core.on_cluster_available(false, a.now());
        a.link.up = true;
        a.d.core.on_cluster_available(true, a.now());
        CHECK(a.link.claims.empty()); // the engine claims them as it reads the replica
        // bob logged in on node-b while this node was cut off, and has left it since.
        cluster::Snapshot back = snapshot_with_stored({});
        back.reclaim->taken = {"bob"};
        a.d.core.on_cluster_event(back, a.now());
        Names announced;
        for (const auto& o : a.link.published_of<cluster::Online>()) announced.push_back(o.name);
        std::sort(announced.begin(), announced.end());
        CHECK(announced == Names{"alice", "carol"});
        auto ended = a.d.env.pop<SessionEnded>(B);
        CHECK(ended.reason == EndReason::kicked);
        CHECK(ended.detail == "you logged in on another server");
        CHECK(a.d.env.is_closed(B));
        CHECK(a.d.core.online_count() == 2);
        for (ConnId c : {A, C}) {
            auto left = a.d.env.pop<PresenceEvent>(c); // he is gone, from here as from anywhere
            CHECK(left.kind == PresenceKind::logout);
            CHECK(left.user == "bob");
        }
        // A read again while available claimed nothing: nothing is announced again.
        a.link.published.clear();
        a.d.core.on_cluster_event(read_again(snapshot_with_stored({})), a.now());
        CHECK(a.link.published.empty());
    }

    TEST_CASE("a name logged in on another node while this one was cut off is there at once, with no logout here") {
        Pair p;
        p.a.online(A, "alice");
        p.a.online(B, "bob");
        p.b.online(C, "carol");
        // node-a is cut off; node-b takes it for dead and alice logs in there.
        p.bus.gone.insert("node-a");
        p.a.link.up = false;
        p.a.d.core.on_cluster_available(false, p.a.now());
        p.b.d.core.on_cluster_event(cluster::NodeDown{"node-a"}, p.b.now());
        p.b.d.env.drain(C);
        p.b.d.connect(D);
        p.b.d.hello(D);
        REQUIRE(p.b.login(D, "alice", "alice123").outcome == LoginOutcome::ok);
        CHECK(p.b.d.env.pop<PresenceEvent>(C).user == "alice");
        p.bus.advance(2'000);

        // node-a is back: its re-claim of alice was refused; read after it, she is on node-b.
        p.bus.gone.erase("node-a");
        p.a.link.up = true;
        p.a.d.core.on_cluster_available(true, p.a.now());
        cluster::Snapshot back =
            snapshot_with_stored({{"alice", "node-b", p.b.now().wall_ms - 2'000, "192.0.2.9", 0, ""},
                                  {"carol", "node-b", p.b.now().wall_ms - 9'000, "192.0.2.9", 0, ""}});
        back.reclaim->taken = {"alice"};
        p.a.d.core.on_cluster_event(back, p.a.now());
        p.bus.pump();
        CHECK(p.a.d.env.pop<SessionEnded>(A).detail == "you logged in on another server");
        CHECK(p.a.d.env.is_closed(A));
        CHECK(p.a.d.env.pending(B) == 0); // alice never left, to bob: no logout, no login
        p.a.d.send(B, WhoElse{1});
        CHECK(names_of(p.a.d.env.pop<UserList>(B)) == Names{"alice", "carol"});
        p.a.d.send(B, WhoElseSinceSeen{2, 60});
        auto seen = p.a.d.env.pop<UserSeenList>(B);
        CHECK(Names(seen.names.begin(), seen.names.end()) == Names{"alice", "carol"});
        CHECK(seen.offline_for_s == std::vector<std::uint32_t>{0, 0});
        // Her session on node-b is untouched, and no one there hears of her: only bob is back.
        CHECK_FALSE(p.b.d.env.is_closed(D));
        for (ConnId c : {C, D}) {
            auto bob = p.b.d.env.pop<PresenceEvent>(c);
            CHECK(bob.kind == PresenceKind::login);
            CHECK(bob.user == "bob");
            CHECK(p.b.d.env.pending(c) == 0);
        }
        // A message from bob reaches her there.
        p.a.d.send(B, SendMessage{3, "alice", "still there?"});
        p.bus.pump();
        CHECK(p.a.d.result(B, 3).code == Status::ok);
        CHECK(p.b.d.env.pop<MessageEvent>(D).text == "still there?");
    }

    TEST_CASE("lock and unlock are refused while the engine is down: a lock only this node knew would not last") {
        Node a("node-a", 1);
        a.online(A, "alice");
        a.link.up = false;
        a.d.core.on_cluster_available(false, a.now());
        CHECK(a.d.core.lock("alice", 60, a.now()).code == Status::unavailable);
        CHECK(a.d.core.unlock("alice", a.now()).code == Status::unavailable);
        CHECK_FALSE(a.d.env.is_closed(A));
        CHECK(a.link.published_of<cluster::Locked>().empty());
    }

    TEST_CASE("a block made elsewhere while this node was cut off hides the blocker once it is back") {
        Node b("node-b", 2);
        b.online(B, "bob");
        const cluster::Online alice{"alice", "node-a", b.now().wall_ms, "192.0.2.9", 0, ""};
        b.d.core.on_cluster_event(alice, b.now());
        CHECK(b.d.env.pop<PresenceEvent>(B).user == "alice");
        b.link.up = false;
        b.d.core.on_cluster_available(false, b.now());
        // alice blocks bob on node-a meanwhile: its BlockChanged never reaches this node.
        b.d.advance(5'000);
        b.link.up = true;
        b.d.core.on_cluster_available(true, b.now());
        b.settle_claims();
        b.d.core.on_cluster_event(
            snapshot_with_stored({alice}, [](StoredState& st) { st.blocks.emplace_back("alice", "bob"); }), b.now());
        CHECK(b.d.env.pending(B) == 0); // alice did not log in or out
        b.d.send(B, WhoElse{1});
        CHECK(names_of(b.d.env.pop<UserList>(B)).empty());
        b.d.send(B, WhoElseSince{2, 60});
        CHECK(names_of(b.d.env.pop<UserList>(B)).empty());
        b.d.send(B, Broadcast{4, "anyone?"});
        CHECK(b.d.result(B, 4).code == Status::ok_partial); // alice, online elsewhere, blocks him
        b.d.core.on_cluster_event(cluster::Offline{"alice", "node-a", b.now().wall_ms}, b.now());
        CHECK(b.d.env.pending(B) == 0); // her logout is hidden too
        b.d.core.on_cluster_event(alice, b.now());
        CHECK(b.d.env.pending(B) == 0); // and her next login

        // She unblocks him while this node is cut off again: once back, he sees her.
        b.d.core.on_cluster_available(false, b.now());
        b.d.core.on_cluster_available(true, b.now());
        b.settle_claims();
        b.d.core.on_cluster_event(snapshot_with_stored({alice}), b.now());
        b.d.send(B, WhoElse{3});
        CHECK(names_of(b.d.env.pop<UserList>(B)) == Names{"alice"});
        b.d.send(B, Broadcast{5, "anyone?"});
        CHECK(b.d.result(B, 5).code == Status::ok);
    }

    TEST_CASE("a block missed while cut off ends the blocked user's private pair with the blocker") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.b.d.send(B, PrivateListen{1, "", 7000});
        p.bus.pump();
        p.a.d.send(A, StartPrivate{2, "bob"});
        p.bus.pump();
        p.a.drain_everywhere();
        p.bus.gone.insert("node-b"); // cut off: hears nothing
        p.b.d.core.on_cluster_available(false, p.b.now());
        p.a.d.send(A, Block{3, "bob"});
        p.bus.pump();
        CHECK(p.a.d.env.take_all<Result>(A).at(0).code == Status::ok);
        CHECK(p.b.d.env.pending(B) == 0);
        p.bus.gone.erase("node-b");
        p.b.d.core.on_cluster_available(true, p.b.now());
        p.b.settle_claims();
        p.b.d.core.on_cluster_event(
            snapshot_with_stored({{"alice", "node-a", p.b.now().wall_ms, "192.0.2.9", 0, ""}},
                                 [](StoredState& st) { st.blocks.emplace_back("alice", "bob"); }),
            p.b.now());
        CHECK(p.b.d.env.pop<PrivateRevoked>(B).peer == "alice");
    }

    TEST_CASE("locks and unlocks made elsewhere while cut off hold once back; a lockout running here stays") {
        CoreSettings s;
        s.block_duration_ms = 60'000;
        Node b("node-b", 2, s);
        b.online(B, "bob");
        b.online(C, "carol");
        b.d.core.on_cluster_event(cluster::Locked{"dave", INT64_MAX, true}, b.now()); // before the cut
        // While cut off: three wrong passwords for alice here (counted here only).
        b.link.up = false;
        b.d.core.on_cluster_available(false, b.now());
        b.d.connect(D);
        b.d.hello(D);
        for (std::uint32_t i = 1; i <= 3; ++i) b.login(D, "alice", "wrong", i);
        CHECK(b.login(D, "alice", "alice123", 4).outcome == LoginOutcome::locked);
        // Elsewhere meanwhile: bob locked by the administrator, dave unlocked, carol locked out.
        b.link.up = true;
        b.d.core.on_cluster_available(true, b.now());
        b.settle_claims();
        const std::int64_t wall = b.now().wall_ms;
        b.d.core.on_cluster_event(snapshot_with_stored({},
                                                       [&](StoredState& st) {
                                                           st.admin_locks.emplace_back("bob", wall + 30'000);
                                                           st.locks.emplace_back("carol", wall + 20'000);
                                                           st.locks.emplace_back("erin", wall - 1); // ran out
                                                       }),
                                  b.now());
        CHECK(b.d.env.pop<SessionEnded>(B).reason == EndReason::locked);
        CHECK(b.d.env.is_closed(B));
        CHECK_FALSE(b.d.env.is_closed(C)); // a lockout ends no session
        for (auto [name, pw] : {std::pair{"bob", "bob123"}, std::pair{"alice", "alice123"}}) {
            b.d.connect(A);
            b.d.hello(A);
            CHECK_MESSAGE(b.login(A, name, pw).outcome == LoginOutcome::locked, name);
            b.d.core.on_disconnect(A, b.now());
        }
        b.d.send(C, Logout{1});
        b.d.connect(A, "198.51.100.1"); // not one of carol's addresses: her name's own lock
        b.d.hello(A);
        auto carol = b.login(A, "carol", "carol123");
        CHECK(carol.outcome == LoginOutcome::locked);
        CHECK(carol.value == 20);
        b.d.core.on_disconnect(A, b.now());
        b.d.connect(A);
        b.d.hello(A);
        CHECK(b.login(A, "dave", "dave123").outcome == LoginOutcome::ok);
        // carol's lock ends here by its own timer, as one counted here would.
        b.d.advance(20'000);
        constexpr ConnId E = 5;
        b.d.connect(E, "198.51.100.1");
        b.d.hello(E);
        CHECK(b.login(E, "carol", "carol123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("a lockout unlocked elsewhere while cut off is lifted once back; one counted while cut off stays") {
        CoreSettings s;
        s.block_duration_ms = 60'000;
        Node b("node-b", 2, s);
        const auto wrong_three_times = [&](std::string_view name) {
            b.d.connect(A);
            b.d.hello(A);
            for (std::uint32_t i = 1; i <= 3; ++i) b.login(A, name, "wrong", i);
            b.d.core.on_disconnect(A, b.now());
        };
        const auto outcome = [&](std::string_view name) {
            b.d.connect(A);
            b.d.hello(A);
            const LoginOutcome got = b.login(A, name, std::string(name) + "123").outcome;
            b.d.core.on_disconnect(A, b.now());
            return got;
        };
        // Before the cut: alice locked out here (and stored), dave on another node (stored there).
        wrong_three_times("alice");
        for (int i = 0; i < 3; ++i) b.d.core.on_cluster_event(cluster::LoginFailed{"dave"}, b.now());
        const std::int64_t until = b.now().wall_ms + 60'000;
        // Cut off: carol locked out here, never stored. Meanwhile `confabctl unlock alice` elsewhere.
        b.link.up = false;
        b.d.core.on_cluster_available(false, b.now());
        wrong_three_times("carol");
        b.link.up = true;
        b.d.core.on_cluster_available(true, b.now());
        const auto stored = [&](StoredState& st) { st.locks.emplace_back("dave", until); };
        b.d.core.on_cluster_event(snapshot_with_stored({}, stored), b.now());
        CHECK(outcome("alice") == LoginOutcome::ok);
        CHECK(outcome("carol") == LoginOutcome::locked);
        CHECK(outcome("dave") == LoginOutcome::locked);
        // carol's stays through the next cut too; a read again while available lifts nothing.
        b.d.core.on_cluster_available(false, b.now());
        b.d.core.on_cluster_available(true, b.now());
        b.d.core.on_cluster_event(snapshot_with_stored({}, stored), b.now());
        b.d.core.on_cluster_event(read_again(snapshot_with_stored({})), b.now());
        CHECK(outcome("carol") == LoginOutcome::locked);
        CHECK(outcome("dave") == LoginOutcome::locked);
        // Once carol's has run out, a lockout of hers counted while Redis is reachable is stored, and
        // so lifted by a read that no longer finds it.
        b.d.advance(60'000);
        wrong_three_times("carol");
        CHECK(outcome("carol") == LoginOutcome::locked);
        b.d.core.on_cluster_available(false, b.now());
        b.d.core.on_cluster_available(true, b.now());
        b.d.core.on_cluster_event(snapshot_with_stored({}), b.now());
        CHECK(outcome("carol") == LoginOutcome::ok);
    }

    TEST_CASE("trusted addresses stored by other nodes are this node's once it is back") {
        CoreSettings s;
        s.block_duration_ms = 60'000;
        Node b("node-b", 2, s);
        b.d.core.on_cluster_available(false, b.now());
        b.d.core.on_cluster_available(true, b.now());
        // alice logged in from 203.0.113.9 on another node; this one never saw her there.
        b.d.core.on_cluster_event(
            snapshot_with_stored({},
                                 [&](StoredState& st) {
                                     st.trusted.push_back({"alice", "203.0.113.9", b.now().wall_ms - 1'000});
                                 }),
            b.now());
        b.d.connect(A, "198.51.100.1");
        b.d.hello(A);
        for (std::uint32_t i = 1; i <= 3; ++i) b.login(A, "alice", "wrong", i);
        CHECK(b.login(A, "alice", "alice123", 4).outcome == LoginOutcome::locked);
        b.d.connect(B, "203.0.113.9"); // her address: the storm's lock is not hers
        b.d.hello(B);
        CHECK(b.login(B, "alice", "alice123").outcome == LoginOutcome::ok);
    }
}

namespace {

CoreSettings ten_second_locks() {
    CoreSettings s;
    s.block_duration_ms = 10'000;
    return s;
}
// alice logs in on `n` from `host`, then leaves; the other nodes hear of both.
void log_in_and_out(Node& n, const std::string& host) {
    n.d.connect(C, host);
    n.d.hello(C);
    REQUIRE(n.login(C, "alice", "alice123").outcome == LoginOutcome::ok);
    n.d.core.on_disconnect(C, n.now());
    n.bus->pump();
}
// Three wrong passwords for alice on `n` from an address she never used: her name is locked.
void storm(Node& n) {
    n.d.connect(D, "198.51.100.1");
    n.d.hello(D);
    for (std::uint32_t i = 1; i <= 3; ++i) n.login(D, "alice", "wrong", i);
    REQUIRE(n.login(D, "alice", "alice123", 4).outcome == LoginOutcome::locked);
    n.d.core.on_disconnect(D, n.now());
    n.bus->pump();
}
template <class Op>
std::size_t ops_of(const test::FakeEnv& env) {
    return std::size_t(std::count_if(env.persisted.begin(), env.persisted.end(),
                                     [](const auto& op) { return std::holds_alternative<Op>(op); }));
}

} // namespace

TEST_SUITE("cluster: trusted addresses") {

    TEST_CASE("an address a login on another node came from is trusted here at once: a storm's lock is not hers") {
        Pair p(ten_second_locks());
        log_in_and_out(p.a, "203.0.113.9");
        // Carried by the login's Online alone; its node stores it, this one only keeps it.
        CHECK(p.a.link.published.size() == 2); // Online, Offline
        CHECK(ops_of<store_op::SetTrustedAddress>(p.a.d.env) == 1);
        CHECK(ops_of<store_op::SetTrustedAddress>(p.b.d.env) == 0);
        storm(p.b);
        p.b.d.connect(A, "203.0.113.9");
        p.b.d.hello(A);
        CHECK(p.b.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("wrong passwords from that address count apart here as well, and an unlock here lifts their lock") {
        Pair p(ten_second_locks());
        log_in_and_out(p.a, "203.0.113.9");
        p.b.d.connect(A, "203.0.113.9");
        p.b.d.hello(A);
        for (std::uint32_t i = 1; i <= 3; ++i) p.b.login(A, "alice", "wrong", i);
        CHECK(p.b.login(A, "alice", "alice123", 4).outcome == LoginOutcome::locked);
        p.bus.pump();
        // The lock is that address's: the name's count, on either node, is untouched.
        p.a.d.connect(B, "198.51.100.1");
        p.a.d.hello(B);
        auto other = p.a.login(B, "alice", "wrong");
        CHECK(other.outcome == LoginOutcome::wrong_password);
        CHECK(other.value == 2);
        p.bus.pump();
        CHECK(p.b.d.core.unlock("alice", p.b.now()).code == Status::ok);
        p.bus.pump();
        CHECK(p.b.login(A, "alice", "alice123", 5).outcome == LoginOutcome::ok);
    }

    TEST_CASE("logins on another node keep this node's four by the same rule: the least recent is forgotten") {
        Pair p(ten_second_locks());
        for (const char* h : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}) log_in_and_out(p.a, h);
        log_in_and_out(p.a, "192.0.2.2"); // used again: the most recent, so 192.0.2.3 goes next
        log_in_and_out(p.a, "192.0.2.6");
        storm(p.b);
        for (const char* h : {"192.0.2.1", "192.0.2.3"}) {
            CAPTURE(h);
            p.b.d.connect(A, h);
            p.b.d.hello(A);
            CHECK(p.b.login(A, "alice", "alice123").outcome == LoginOutcome::locked);
            p.b.d.core.on_disconnect(A, p.b.now());
        }
        for (const char* h : {"192.0.2.2", "192.0.2.4", "192.0.2.5", "192.0.2.6"}) {
            CAPTURE(h);
            p.b.d.connect(A, h);
            p.b.d.hello(A);
            REQUIRE(p.b.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
            p.b.d.core.on_disconnect(A, p.b.now());
            p.bus.pump();
        }
    }

    TEST_CASE("another node's Online trusts nothing for a user logged in here, nor what cannot be an address key") {
        CoreSettings s = ten_second_locks();
        Node b("node-b", 2, s);
        b.online(A, "bob");
        // bob is logged in here: an Online of his from elsewhere is stale, and trusts nothing.
        b.d.core.on_cluster_event(cluster::Online{"bob", "node-a", b.now().wall_ms, "", 0, "203.0.113.9"}, b.now());
        // Not an address key (longer than any): ignored, as a payload carrying it would be.
        b.d.core.on_cluster_event(cluster::Online{"alice", "node-a", b.now().wall_ms, "", 0,
                                                  std::string(AddressLimits::max_key_length + 1, 'x')},
                                  b.now());
        b.d.core.on_cluster_event(cluster::Offline{"alice", "node-a", b.now().wall_ms}, b.now());
        b.d.env.drain_all();
        b.d.connect(B, "198.51.100.1");
        b.d.hello(B);
        for (std::uint32_t i = 1; i <= 3; ++i) b.login(B, "bob", "wrong", i);
        for (std::uint32_t i = 1; i <= 3; ++i) b.login(B, "alice", "wrong", 3 + i);
        b.d.core.on_disconnect(A, b.now());
        b.d.connect(C, "203.0.113.9");
        b.d.hello(C);
        CHECK(b.login(C, "bob", "bob123").outcome == LoginOutcome::locked);
        b.d.connect(D, std::string(AddressLimits::max_key_length + 1, 'x'));
        b.d.hello(D);
        CHECK(b.login(D, "alice", "alice123").outcome == LoginOutcome::locked);
    }
}

// ====================================================================== what another node may send

TEST_SUITE("cluster: another node's events are not trusted") {

    TEST_CASE("a peer's time at the edge of int64 saturates: a logout at INT64_MIN is no recent last-seen") {
        Node a("node-a", 1);
        a.online(A, "alice");
        a.d.core.on_cluster_event(cluster::Online{"bob", "node-b", a.now().wall_ms, "192.0.2.9", 0, ""}, a.now());
        a.d.core.on_cluster_event(cluster::Offline{"bob", "node-b", INT64_MIN}, a.now());
        cluster::Snapshot snap;
        snap.last_seen.push_back({"carol", INT64_MIN});
        a.d.core.on_cluster_event(snap, a.now());
        a.d.env.drain(A);
        // Neither left within the last minute (wrapped around, they would have left "1 s ago").
        a.d.send(A, WhoElseSinceSeen{1, 60});
        auto seen = a.d.env.pop<UserSeenList>(A);
        CHECK(seen.names.empty());
        CHECK(seen.offline_for_s.empty());
    }

    TEST_CASE("a Direct or a Broadcast with an empty or oversize text never reaches a client") {
        Node a("node-a", 1);
        a.online(A, "alice");
        const std::string oversize(max_text_length + 1, 'x');
        for (const std::string& text : {std::string(), oversize}) {
            INFO("text of ", text.size(), " bytes");
            a.link.sent.clear();
            a.d.core.on_cluster_event(cluster::Direct{"alice", "bob", 77, a.now().wall_ms, text, "node-b", 9}, a.now());
            a.d.core.on_cluster_event(cluster::Broadcast{"bob", "node-b", a.now().wall_ms, text}, a.now());
            a.d.core.on_cluster_event(cluster::Notice{a.now().wall_ms, text}, a.now());
            CHECK(a.d.env.pending(A) == 0);
            // The Direct's sender hears why, as a local sender would.
            auto answers = a.link.sent_of<cluster::DirectAnswer>();
            REQUIRE(answers.size() == 1);
            CHECK(answers[0].node == "node-b");
            const auto& answer = std::get<cluster::DirectAnswer>(answers[0].event);
            CHECK(answer.tag == 9);
            CHECK(answer.status == Status::invalid_text);
            CHECK(answer.detail == "message text must be 1-1000 bytes");
        }
        // One of the longest allowed texts gets through.
        const std::string longest(max_text_length, 'y');
        a.d.core.on_cluster_event(cluster::Broadcast{"bob", "node-b", a.now().wall_ms, longest}, a.now());
        CHECK(a.d.env.pop<BroadcastEvent>(A).text == longest);
    }

    TEST_CASE("an oversize detail from another node is cut to the protocol's limit before it reaches a client") {
        Pair p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        const std::string long_detail(3 * max_detail_length, 'd');
        // A DirectAnswer's detail, as the sender's Result.
        p.a.d.send(A, SendMessage{5, "bob", "hi"});
        auto routed = p.a.link.sent_of<cluster::Direct>();
        REQUIRE(routed.size() == 1);
        p.a.link.sent_carried = p.a.link.sent.size(); // node b never sees it: the answer below is its
        p.a.d.core.on_routed(routed[0].tag, true, p.a.now());
        p.a.d.core.on_cluster_event(cluster::DirectAnswer{routed[0].tag, Status::mailbox_full, long_detail}, p.a.now());
        auto r = p.a.d.result(A, 5);
        CHECK(r.code == Status::mailbox_full);
        CHECK(r.detail == long_detail.substr(0, max_detail_length));
        // An EndSession's detail, as the SessionEnded.
        p.b.d.core.on_cluster_event(cluster::EndSession{"bob", EndReason::kicked, long_detail}, p.b.now());
        auto e = p.b.d.env.pop<SessionEnded>(B);
        CHECK(e.reason == EndReason::kicked);
        CHECK(e.detail == long_detail.substr(0, max_detail_length));
        // A Direct for an oversize name: the answer echoing it is cut too (its sender's node shows it).
        const std::string long_name(2 * max_detail_length, 'n');
        p.b.link.sent.clear();
        p.b.d.core.on_cluster_event(cluster::Direct{long_name, "alice", 78, p.b.now().wall_ms, "hi", "node-a", 11},
                                    p.b.now());
        auto answers = p.b.link.sent_of<cluster::DirectAnswer>();
        REQUIRE(answers.size() == 1);
        const auto& answer = std::get<cluster::DirectAnswer>(answers[0].event);
        CHECK(answer.status == Status::unknown_user);
        CHECK(answer.detail.size() == max_detail_length);
    }

    TEST_CASE("a wrong password's answer still reaches the connection when a login overtook its flush") {
        Node n("node-a");
        n.d.connect(A);
        n.d.hello(A);
        n.link.hold_flushes = true;
        n.d.send(A, Login{1, "alice", "wrong"});
        n.d.run_jobs();
        REQUIRE(n.link.flushes.size() == 1); // the wrong password's LoginResult waits for it
        // The right password next, its flush answered at once: logged in before the first flush is.
        n.link.hold_flushes = false;
        n.d.send(A, Login{2, "alice", "alice123"});
        n.d.run_jobs();
        n.answer_claim(cluster::Claim::claimed);
        auto ok = n.d.env.pop<LoginResult>(A);
        CHECK(ok.request_id == 2);
        CHECK(ok.outcome == LoginOutcome::ok);
        n.link.answer_flushes(true);
        // Every request gets its one answer: the first one's comes late, but it comes.
        auto wrong = n.d.env.pop<LoginResult>(A);
        CHECK(wrong.request_id == 1);
        CHECK(wrong.outcome == LoginOutcome::wrong_password);
        CHECK(n.d.env.pending(A) == 0);
    }
}

// ====================================================================== a message and a login at once

TEST_SUITE("cluster: a message while its recipient logs in") {

    // bob logs in on `n`: his claim is won and his login announced (and, unless the flush is
    // held, completed), but no other node has heard of it yet.
    void log_in_unheard(Node & n, ConnId c, Bus & bus) {
        n.start_login(c, "bob", "bob123");
        n.d.run_jobs();
        bus.settle_claims(n);
    }

    TEST_CASE("a message the engine takes just after its recipient logged in elsewhere is delivered live there") {
        SharedTrio p;
        p.a.online(A, "alice");
        log_in_unheard(p.b, B, p.bus);
        CHECK(p.b.d.env.pop<LoginResult>(B).outcome == LoginOutcome::ok); // and his mailbox was read: empty
        REQUIRE_FALSE(p.a.d.core.online_elsewhere("bob"));
        // Node a still takes bob for offline: its deposit reaches the engine after his login.
        p.a.d.send(A, SendMessage{5, "bob", "are you there?"});
        CHECK(p.a.d.env.pending(A) == 0);
        p.box(p.a).run();
        CHECK(p.stored_for("bob") == 0); // not kept for his next login ...
        p.bus.pump();
        auto m = p.b.d.env.take_all<MessageEvent>(B); // ... but shown now, as any live message
        REQUIRE(m.size() == 1);
        CHECK(m[0].text == "are you there?");
        CHECK(m[0].from == "alice");
        CHECK(m[0].flags == 0);
        CHECK(m[0].sent_at_ms == std::uint64_t(p.a.now().wall_ms));
        auto r = p.a.d.env.take_all<Result>(A);
        REQUIRE(r.size() == 1);
        CHECK(r[0].request_id == 5);
        CHECK(r[0].code == Status::ok);
        // Its node's answer came: no "may not have been delivered" later.
        p.bus.advance(6'000);
        CHECK(p.a.d.env.take_all<Result>(A).empty());
    }

    TEST_CASE("a message the engine takes before the claim, or while the login is announced, comes with the login") {
        SharedTrio p;
        p.a.online(A, "alice");
        p.b.link.hold_flushes = true; // bob's welcome waits until the other nodes heard of him
        SUBCASE("deposited before the claim: stored, read by the login") {
            p.a.d.send(A, SendMessage{5, "bob", "hello"});
            p.box(p.a).run();
            log_in_unheard(p.b, B, p.bus);
        }
        SUBCASE("deposited after the claim: routed to bob's node, which stores it for the login it is completing") {
            log_in_unheard(p.b, B, p.bus);
            p.a.d.send(A, SendMessage{5, "bob", "hello"});
            p.box(p.a).run();
            CHECK(p.a.link.sent_of<cluster::Direct>().size() == 1);
            p.bus.pump();
            p.box(p.b).run(); // bob's session is node b's own: no reason not to store
        }
        CHECK(p.stored_for("bob") == 1);
        p.b.link.answer_flushes(true);
        CHECK(p.b.d.env.pop<LoginResult>(B).outcome == LoginOutcome::ok);
        auto m = p.b.d.env.pop<MessageEvent>(B);
        CHECK(m.text == "hello");
        CHECK((m.flags & message_flag_offline) != 0);
        CHECK(p.b.d.env.pending(B) == 0); // once
        p.bus.pump();
        auto r = p.a.d.env.take_all<Result>(A);
        REQUIRE(r.size() == 1);
        CHECK(r[0].code == Status::ok_stored);
    }

    TEST_CASE("a Direct for a user who left this node for another goes on there; that node answers the sender's") {
        SharedTrio p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        // alice writes to bob on node b; before it arrives he logs out there and logs in on node c.
        p.a.d.send(A, SendMessage{5, "bob", "where are you?"});
        p.b.d.send(B, Logout{});
        p.bus.pump(); // node b deposits it: bob is not its user any more
        p.a.d.env.drain(A);
        log_in_unheard(p.c, C, p.bus);
        CHECK(p.c.d.env.pop<LoginResult>(C).outcome == LoginOutcome::ok);
        p.box(p.b).run();
        auto on = p.b.link.sent_of<cluster::Direct>();
        REQUIRE(on.size() == 1);
        CHECK(on[0].node == "node-c");
        CHECK(std::get<cluster::Direct>(on[0].event).reply_node == "node-a");
        p.bus.pump();
        auto m = p.c.d.env.take_all<MessageEvent>(C);
        REQUIRE(m.size() == 1);
        CHECK(m[0].text == "where are you?");
        CHECK(m[0].flags == 0);
        auto r = p.a.d.env.take_all<Result>(A);
        REQUIRE(r.size() == 1);
        CHECK(r[0].code == Status::ok);
        CHECK(p.stored_for("bob") == 0);
        p.bus.advance(6'000); // nobody waits for an answer any more
        CHECK(p.a.d.env.take_all<Result>(A).empty());
        CHECK(p.b.d.env.take_all<Result>(B).empty());
    }

    TEST_CASE("a route that finds its node gone stores the message though that node still holds the session") {
        SharedTrio p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.bus.gone.insert("node-b"); // killed: its sessions are its until the clean-up
        p.a.d.send(A, SendMessage{5, "bob", "are you there"});
        p.bus.pump();
        p.box(p.a).run();
        CHECK(p.stored_for("bob") == 1);
        CHECK(p.a.link.sent_of<cluster::Direct>().size() == 1); // not routed back there
        CHECK(p.a.d.result(A, 5).code == Status::ok_stored);
    }

    TEST_CASE("a route that finds its node gone, its recipient logged in on another one since: delivered there") {
        SharedTrio p;
        p.a.online(A, "alice");
        p.b.online(B, "bob");
        p.bus.gone.insert("node-b");
        p.a.d.send(A, SendMessage{5, "bob", "still there?"});
        log_in_unheard(p.c, C, p.bus); // the dead node's claim does not hold him back
        CHECK(p.c.d.env.pop<LoginResult>(C).outcome == LoginOutcome::ok);
        p.bus.pump(); // node b is not listening: node a deposits
        p.box(p.a).run();
        p.bus.pump();
        auto m = p.c.d.env.take_all<MessageEvent>(C);
        REQUIRE(m.size() == 1);
        CHECK(m[0].text == "still there?");
        CHECK(m[0].flags == 0);
        auto r = p.a.d.env.take_all<Result>(A);
        REQUIRE(r.size() == 1);
        CHECK(r[0].code == Status::ok);
        CHECK(p.stored_for("bob") == 0);
    }
}
