// A fake CoreEnv and a small driver for ChatCore unit tests: no sockets, no
// threads, no sleeping. Every frame the core sends is decoded back into a
// proto::Message whose string fields are re-pointed at strings owned by the
// FakeEnv, so tests can keep and inspect messages after popping them.
#pragma once

#include "core/chat_core.hpp"
#include "core/credentials.hpp"
#include "core/timer_queue.hpp"
#include "log.hpp"

#include "proto/frame.hpp"
#include "proto/messages.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

// Readable doctest failure output for the protocol's enums (found by ADL;
// doctest would otherwise print the underlying integer).
namespace confab::proto {
inline doctest::String toString(Status s) {
    auto v = to_string(s);
    return doctest::String(v.data(), doctest::String::size_type(v.size()));
}
inline doctest::String toString(LoginOutcome o) {
    static const char* names[] = {"ok", "wrong_password", "locked", "already_logged_in", "unknown_user", "unavailable"};
    auto i = unsigned(o);
    return i < 6 ? names[i] : "LoginOutcome(?)";
}
inline doctest::String toString(EndReason r) {
    switch (r) {
    case EndReason::timed_out: return "timed_out";
    case EndReason::server_shutdown: return "server_shutdown";
    case EndReason::logged_out: return "logged_out";
    case EndReason::kicked: return "kicked";
    case EndReason::locked: return "locked";
    case EndReason::account_removed: return "account_removed";
    }
    return "EndReason(?)";
}
inline doctest::String toString(PresenceKind k) {
    return k == PresenceKind::login ? "login" : k == PresenceKind::logout ? "logout" : "PresenceKind(?)";
}
} // namespace confab::proto

namespace confab::test {

struct FakeEnv : CoreEnv {
    struct Job {
        ConnId conn;
        std::uint64_t job;
        std::string hash;
        std::string password;
    };

    std::map<ConnId, std::deque<proto::Message>> inbox;
    std::set<ConnId> closed;
    TimerQueue timers;
    std::deque<Job> jobs;                  // verify_password requests not answered yet
    bool accept_jobs = true;               // false: verify_password reports saturated workers
    std::vector<StoreOp> persisted;        // every change the core made durable, in order
    std::deque<std::uint64_t> uncommitted; // InsertMessage tags not yet answered
    bool accept_stores = true;             // false: persist reports a saturated store
    std::uint64_t tokens_made = 0;
    // Which sequence random_token() draws from: the cluster tests give each node its own (its
    // ordinal), as random tokens are, so a token made on one node never equals another's.
    std::uint16_t token_stream = 0;

    // ---- CoreEnv
    void send(ConnId conn, proto::Bytes frame) override {
        CHECK_MESSAGE(!closed.count(conn), "frame sent to connection ", conn, " after close");
        auto parsed = proto::parse_frame(frame);
        REQUIRE_MESSAGE(parsed.kind == proto::FrameResult::Kind::frame, "core sent no whole frame");
        REQUIRE_MESSAGE(parsed.consumed == frame.size(), "core sent more than one frame in one send");
        auto r = proto::decode_payload(parsed.payload);
        REQUIRE_MESSAGE(r.message.has_value(), "core sent an undecodable frame");
        std::visit([&](auto& m) { std::apply([&](auto&... f) { (own(f), ...); }, m.fields()); }, *r.message);
        inbox[conn].push_back(std::move(*r.message));
    }
    void close(ConnId conn) override {
        CHECK_MESSAGE(closed.insert(conn).second, "connection ", conn, " closed twice");
    }
    void arm_timer(TimerQueue::Key key, TimePoint deadline) override { timers.arm(key, deadline); }
    void cancel_timer(TimerQueue::Key key) override { timers.cancel(key); }
    bool verify_password(ConnId conn, std::uint64_t job, const std::string& hash, std::string password) override {
        if (!accept_jobs) return false;
        jobs.push_back({conn, job, hash, std::move(password)});
        return true;
    }
    bool persist(StoreOp op) override {
        if (!accept_stores) return false;
        if (auto* m = std::get_if<store_op::InsertMessage>(&op)) uncommitted.push_back(m->tag);
        persisted.push_back(std::move(op));
        return true;
    }
    proto::Token random_token() override {
        proto::Token t{};
        std::uint64_t n = ++tokens_made;
        for (std::size_t i = 0; i < 8; ++i) t[i] = std::uint8_t(n >> (8 * i));
        t[8] = std::uint8_t(token_stream);
        t[9] = std::uint8_t(token_stream >> 8);
        t[15] = 0xA5;
        return t;
    }

    // ---- inspection
    std::size_t pending(ConnId c) const {
        auto it = inbox.find(c);
        return it == inbox.end() ? 0 : it->second.size();
    }
    bool is_closed(ConnId c) const { return closed.count(c) != 0; }
    // The oldest unread message of `c`, which must be an M.
    template <class M>
    M pop(ConnId c) {
        auto& q = inbox[c];
        REQUIRE_MESSAGE(!q.empty(), "connection ", c, " expected ", proto::to_string(M::type), ", got nothing");
        INFO("connection ", c, " expected ", proto::to_string(M::type), ", got ",
             proto::to_string(proto::type_of(q.front())));
        REQUIRE(std::holds_alternative<M>(q.front()));
        M m = std::get<M>(q.front());
        q.pop_front();
        return m;
    }
    // Every unread M of `c` (others stay), oldest first.
    template <class M>
    std::vector<M> take_all(ConnId c) {
        std::vector<M> out;
        auto& q = inbox[c];
        for (auto it = q.begin(); it != q.end();) {
            if (auto* m = std::get_if<M>(&*it)) {
                out.push_back(*m);
                it = q.erase(it);
            } else {
                ++it;
            }
        }
        return out;
    }
    void drain(ConnId c) { inbox[c].clear(); }
    void drain_all() { inbox.clear(); }
    std::string token_hex(const proto::Token& t) const {
        static const char* d = "0123456789abcdef";
        std::string s;
        for (auto b : t) s += {d[b >> 4], d[b & 15]};
        return s;
    }

private:
    std::deque<std::string> strings_; // deque: elements never move, views stay valid
    void own(std::string_view& v) { v = strings_.emplace_back(v); }
    void own(std::vector<std::string_view>& vs) {
        for (auto& v : vs) own(v);
    }
    template <class T>
    void own(T&) {}
};

// Demo users: plaintext passwords `<name>123`.
inline const char* demo_users_text = "alice alice123\nbob bob123\ncarol carol123\ndave dave123\n";

// ChatCore + FakeEnv + a fake clock. Times are ms since the test began.
struct Driver {
    static constexpr std::int64_t wall_base = 1'764'000'000'000; // late 2025, Unix ms
    FakeEnv env;
    ChatCore core;
    TimePoint t = 1'000;

    // `cluster`: the core is one node of a cluster (tests/daemon/core/cluster_test.cpp).
    explicit Driver(CoreSettings s = {}, const std::string& users = demo_users_text, ClusterLink* cluster = nullptr,
                    MailboxFactory mailboxes = {})
        : Driver(s, parse_users(users, "test-users"), cluster, std::move(mailboxes)) {}
    // A users file parsed already (the fuzz harness parses each of its files once).
    Driver(CoreSettings s, UsersFile users, ClusterLink* cluster = nullptr, MailboxFactory mailboxes = {})
        : core(env, s, (log::set_level(log::Level::error), std::move(users)), cluster, std::move(mailboxes)) {}

    Now now() const { return Now{t, wall_base + t}; }

    // A new connection; an id closed earlier in the test may be reused for it.
    void connect(ConnId c, std::string host = "192.0.2.7") {
        env.closed.erase(c);
        env.inbox.erase(c);
        core.on_connect(c, std::move(host), std::uint16_t(40000 + c % 20000), now());
    }
    // Sends a message; stores it asks for commit at once unless `commit_stores` is off.
    bool commit_stores = true;
    void send(ConnId c, const proto::Message& m) {
        core.on_message(c, m, now());
        if (commit_stores) commit_pending();
    }
    // Answers pending InsertMessage operations as committed (or failed).
    void commit_pending(bool ok = true) {
        while (!env.uncommitted.empty()) {
            auto tag = env.uncommitted.front();
            env.uncommitted.pop_front();
            core.on_stored(tag, ok, ok ? "" : "disk full");
        }
    }

    // Hello, and the Welcome it earns.
    void hello(ConnId c) {
        send(c, proto::Hello{proto::protocol_version, "confab/test"});
        auto w = env.pop<proto::Welcome>(c);
        CHECK(w.version == proto::protocol_version);
    }
    // Login and its LoginResult (hash checks queued by the core are run synchronously).
    proto::LoginResult login(ConnId c, std::string_view name, std::string_view pw, std::uint32_t rid = 1) {
        send(c, proto::Login{rid, name, pw});
        run_jobs();
        auto r = env.pop<proto::LoginResult>(c);
        CHECK(r.request_id == rid);
        return r;
    }
    // Answers queued verify_password jobs with real crypt(3) checks.
    void run_jobs() {
        while (!env.jobs.empty()) {
            auto j = env.jobs.front();
            env.jobs.pop_front();
            core.on_verify_result(j.conn, j.job, crypt_matches(j.hash, j.password), now());
        }
    }
    // connect + hello + successful login; leaves the connection's inbox empty.
    void online(ConnId c, std::string_view name, std::string pw = {}) {
        if (pw.empty()) pw = std::string(name) + "123";
        connect(c);
        hello(c);
        auto r = login(c, name, pw);
        REQUIRE(r.outcome == proto::LoginOutcome::ok);
        env.drain(c);
    }
    // Moves the clock forward, firing every timer due on the way at its own deadline.
    void advance(std::int64_t ms) {
        const TimePoint target = t + ms;
        for (auto next = env.timers.next_deadline(); next && *next <= target; next = env.timers.next_deadline()) {
            t = std::max(t, *next);
            for (auto key : env.timers.expire(t)) core.on_timer(key, now());
        }
        t = target;
    }
    // The Result answering request `rid` on `c` (must be the next message).
    proto::Result result(ConnId c, std::uint32_t rid) {
        auto r = env.pop<proto::Result>(c);
        CHECK(r.request_id == rid);
        return r;
    }
};

} // namespace confab::test
