// ChatCore's administrative operations (the control socket's kick, lock,
// unlock, wall, who) and the counters the metrics are made of.
#include "fake_env.hpp"

using namespace confab;
using namespace confab::proto;
using confab::test::Driver;

namespace {
constexpr ConnId A = 1, B = 2, C = 3;

// The admin lock the core asked the store to keep for `name`, if any (last write wins).
std::optional<std::int64_t> stored_admin_lock(const test::FakeEnv& env, std::string_view name) {
    std::optional<std::int64_t> until;
    for (const auto& op : env.persisted)
        if (const auto* l = std::get_if<store_op::SetLock>(&op); l && l->admin && l->name == name)
            until = l->until_wall_ms == 0 ? std::nullopt : std::optional(l->until_wall_ms);
    return until;
}
} // namespace

TEST_SUITE("administration") {

    TEST_CASE("kick ends the session with the reason; the others see the logout") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        auto r = d.core.kick("alice", "flooding the channel", d.now());
        CHECK(r.code == Status::ok);
        auto e = d.env.pop<SessionEnded>(A);
        CHECK(e.reason == EndReason::kicked);
        CHECK(e.detail == "flooding the channel");
        CHECK(d.env.is_closed(A));
        CHECK(d.env.pop<PresenceEvent>(B).kind == PresenceKind::logout);
        CHECK(d.core.online_count() == 1);
        CHECK(d.core.counters().kicks == 1);
        CHECK(d.core.counters().session_ends[std::size_t(EndReason::kicked)] == 1);
        // A kick is no lock: alice may log in again at once.
        d.online(C, "alice");
    }

    TEST_CASE("kick without a reason gives a default text; offline, unknown and invalid names are refused") {
        Driver d;
        d.online(A, "alice");
        CHECK(d.core.kick("bob", "", d.now()).code == Status::user_offline);
        CHECK(d.core.kick("zoe", "", d.now()).code == Status::unknown_user);
        CHECK(d.core.kick("no spaces", "", d.now()).code == Status::invalid_name);
        CHECK(d.core.kick("alice", std::string(1001, 'x'), d.now()).code == Status::invalid_text);
        CHECK(d.env.pending(A) == 0);
        CHECK(d.core.kick("alice", "", d.now()).code == Status::ok);
        CHECK(d.env.pop<SessionEnded>(A).detail == "removed by the administrator");
    }

    TEST_CASE("lock without a duration ends the session and refuses every login until unlock") {
        Driver d;
        d.online(A, "alice");
        auto r = d.core.lock("alice", lock_until_unlocked, d.now());
        CHECK(r.code == Status::ok);
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::locked);
        CHECK(d.env.is_closed(A));
        CHECK(stored_admin_lock(d.env, "alice") == INT64_MAX);
        d.advance(365LL * 24 * 3600 * 1000);
        d.connect(B);
        d.hello(B);
        auto l = d.login(B, "alice", "alice123");
        CHECK(l.outcome == LoginOutcome::locked);
        CHECK(l.value == lock_until_unlocked);
        CHECK(d.core.unlock("alice", d.now()).detail == "alice unlocked");
        CHECK_FALSE(stored_admin_lock(d.env, "alice"));
        CHECK(d.login(B, "alice", "alice123", 2).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a timed lock runs out by itself and is cleared from the store") {
        Driver d;
        CHECK(d.core.lock("bob", 60, d.now()).code == Status::ok);
        CHECK(stored_admin_lock(d.env, "bob") == Driver::wall_base + d.t + 60'000);
        d.connect(B);
        d.hello(B);
        auto l = d.login(B, "bob", "bob123");
        CHECK(l.outcome == LoginOutcome::locked);
        CHECK(l.value == 60);
        d.advance(60'000);
        d.connect(C); // B met its login deadline meanwhile
        d.hello(C);
        CHECK(d.login(C, "bob", "bob123", 2).outcome == LoginOutcome::ok);
        CHECK_FALSE(stored_admin_lock(d.env, "bob"));
    }

    TEST_CASE("a correct password does not lift an administrative lock; lock arguments are checked") {
        Driver d;
        CHECK(d.core.lock("carol", 0, d.now()).code == Status::invalid_argument);
        CHECK(d.core.lock("zoe", 10, d.now()).code == Status::unknown_user);
        CHECK(d.core.lock("carol", 10, d.now()).code == Status::ok);
        d.connect(C);
        d.hello(C);
        CHECK(d.login(C, "carol", "carol123").outcome == LoginOutcome::locked);
        CHECK(d.login(C, "carol", "carol123", 2).outcome == LoginOutcome::locked);
        CHECK(d.core.counters().logins[std::size_t(LoginOutcome::locked)] == 2);
    }

    TEST_CASE("unlock also lifts a lockout after wrong passwords") {
        Driver d;
        d.connect(A);
        d.hello(A);
        for (std::uint32_t i = 1; i <= 3; ++i) d.login(A, "bob", "wrong", i);
        CHECK(d.login(A, "bob", "bob123", 4).outcome == LoginOutcome::locked);
        CHECK(d.core.counters().lockouts == 1);
        CHECK(d.core.unlock("bob", d.now()).detail == "bob unlocked");
        // The lockout is cleared on disk too.
        const auto* last = std::get_if<store_op::SetLock>(&d.env.persisted.back());
        REQUIRE(last);
        CHECK(last->name == "bob");
        CHECK(last->until_wall_ms == 0);
        CHECK(d.login(A, "bob", "bob123", 5).outcome == LoginOutcome::ok);
        CHECK(d.core.unlock("bob", d.now()).detail == "bob was not locked");
    }

    TEST_CASE("administrative locks come back from the store; expired ones are cleared") {
        Driver d;
        StoredState st;
        st.admin_locks = {{"alice", INT64_MAX}, {"bob", Driver::wall_base + d.t + 5'000}, {"carol", 1}};
        d.core.restore(st, d.now());
        CHECK_FALSE(stored_admin_lock(d.env, "carol")); // asked to be cleared
        d.connect(A);
        d.hello(A);
        CHECK(d.login(A, "alice", "alice123").value == lock_until_unlocked);
        CHECK(d.login(A, "bob", "bob123", 2).value == 5);
        CHECK(d.login(A, "carol", "carol123", 3).outcome == LoginOutcome::ok);
    }

    TEST_CASE("wall reaches every online user as a ServerNotice, none of it before login") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.connect(C);
        d.hello(C);
        d.env.drain_all();
        d.t += 500;
        auto r = d.core.wall("restart at noon", d.now());
        CHECK(r.code == Status::ok);
        CHECK(r.detail == "sent to 2 user(s)");
        for (ConnId c : {A, B}) {
            auto n = d.env.pop<ServerNotice>(c);
            CHECK(n.text == "restart at noon");
            CHECK(n.sent_at_ms == std::uint64_t(Driver::wall_base + d.t));
        }
        CHECK(d.env.pending(C) == 0);
        CHECK(d.core.wall("", d.now()).code == Status::invalid_text);
        CHECK(d.core.wall(std::string(1001, 'x'), d.now()).code == Status::invalid_text);
    }

    TEST_CASE("who lists online users by name with login time, idle seconds and private chats") {
        Driver d;
        d.online(B, "bob");
        d.t += 1000;
        d.online(A, "alice");
        d.send(B, PrivateListen{5, "", 4000});
        d.send(A, StartPrivate{6, "bob"});
        d.t += 7'500;
        d.send(A, WhoElse{7});
        auto list = d.core.who(d.now());
        REQUIRE(list.size() == 2);
        CHECK(list[0].name == "alice");
        CHECK(list[0].conn == A);
        CHECK(list[0].login_at_ms == Driver::wall_base + 2'000);
        CHECK(list[0].idle_s == 0);
        CHECK(list[0].private_chats == 1);
        CHECK(list[1].name == "bob");
        CHECK(list[1].idle_s == 7);
        CHECK(list[1].private_chats == 1);
    }

    TEST_CASE("a control request on a user connection is a protocol error, logged in or not") {
        Driver d;
        d.connect(A);
        d.hello(A);
        d.send(A, ControlStatus{1});
        CHECK(d.env.pop<ProtocolError>(A).code == Status::bad_request);
        CHECK(d.env.is_closed(A));
        d.online(B, "bob");
        d.send(B, ControlKick{2, "bob", ""});
        CHECK(d.env.pop<ProtocolError>(B).code == Status::bad_request);
        CHECK(d.env.is_closed(B));
        CHECK(d.core.online_count() == 0);
    }

    TEST_CASE("counters: messages by kind, logins by outcome") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.send(A, SendMessage{1, "bob", "live"});
        d.send(A, SendMessage{2, "carol", "stored"});
        d.send(A, Broadcast{3, "all"});
        d.online(C, "carol");
        const auto& n = d.core.counters();
        CHECK(n.messages_direct == 1);
        CHECK(n.messages_stored == 1);
        CHECK(n.messages_offline_delivered == 1);
        CHECK(n.broadcasts == 1);
        CHECK(n.broadcast_deliveries == 1);
        CHECK(n.logins[std::size_t(LoginOutcome::ok)] == 3);
        CHECK(d.core.offline_held() == 1); // until carol's client acknowledges it
    }
}
