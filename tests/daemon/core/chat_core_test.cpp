// ChatCore rule by rule, through FakeEnv under a fake clock.
#include "fake_env.hpp"

#include <fmt/format.h>

#include <algorithm>

using namespace confab;
using namespace confab::proto;
using confab::test::Driver;

namespace {

constexpr ConnId A = 1, B = 2, C = 3, D = 4, E = 5;

std::vector<std::string> names_of(const UserList& l) {
    return {l.names.begin(), l.names.end()};
}
using Names = std::vector<std::string>;

CoreSettings settings_with(auto&& f) {
    CoreSettings s;
    f(s);
    return s;
}

} // namespace

// ====================================================================== handshake

TEST_SUITE("handshake") {

    TEST_CASE("Hello with another protocol version is refused with unsupported_version and closed") {
        Driver d;
        d.connect(A);
        d.send(A, Hello{2, "confab/9.9"});
        auto e = d.env.pop<ProtocolError>(A);
        CHECK(e.code == Status::unsupported_version);
        CHECK(e.detail.find('2') != std::string_view::npos);
        CHECK(d.env.is_closed(A));
        CHECK(d.env.pending(A) == 0);
        CHECK(d.core.session_count() == 0);
    }

    TEST_CASE("Hello with the right version is answered with Welcome") {
        Driver d;
        d.connect(A);
        d.send(A, Hello{protocol_version, "confab/0.1.0"});
        auto w = d.env.pop<Welcome>(A);
        CHECK(w.version == protocol_version);
        CHECK(w.max_frame == max_frame_size);
        CHECK_FALSE(d.env.is_closed(A));
    }

    TEST_CASE("anything before Hello, or a second Hello, closes with wrong_state") {
        Driver d;
        d.connect(A);
        d.send(A, Login{1, "alice", "alice123"});
        CHECK(d.env.pop<ProtocolError>(A).code == Status::wrong_state);
        CHECK(d.env.is_closed(A));

        d.connect(B);
        d.hello(B);
        d.send(B, Hello{protocol_version, "again"});
        CHECK(d.env.pop<ProtocolError>(B).code == Status::wrong_state);
        CHECK(d.env.is_closed(B));
    }

    TEST_CASE("commands before login get not_logged_in and the connection stays usable") {
        Driver d;
        d.connect(A);
        d.hello(A);
        d.send(A, WhoElse{7});
        CHECK(d.result(A, 7).code == Status::not_logged_in);
        d.send(A, SendMessage{8, "bob", "hi"});
        CHECK(d.result(A, 8).code == Status::not_logged_in);
        d.send(A, Broadcast{9, "hi"});
        CHECK(d.result(A, 9).code == Status::not_logged_in);
        d.send(A, Block{10, "bob"});
        CHECK(d.result(A, 10).code == Status::not_logged_in);
        CHECK_FALSE(d.env.is_closed(A));
        CHECK(d.login(A, "alice", "alice123", 11).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a server-side message type from a client is a protocol violation") {
        Driver d;
        d.online(A, "alice");
        d.send(A, Welcome{});
        CHECK(d.env.pop<ProtocolError>(A).code == Status::bad_request);
        CHECK(d.env.is_closed(A));
        CHECK(d.core.online_count() == 0);
    }

} // TEST_SUITE handshake

// ====================================================================== login and lockout

TEST_SUITE("login") {

    TEST_CASE("correct password logs in") {
        Driver d;
        d.connect(A);
        d.hello(A);
        auto r = d.login(A, "alice", "alice123", 42);
        CHECK(r.outcome == LoginOutcome::ok);
        CHECK(r.request_id == 42);
        CHECK(d.core.online_count() == 1);
    }

    TEST_CASE("wrong passwords: 2 then 1 attempts left, then locked for block_duration seconds") {
        Driver d(settings_with([](CoreSettings& s) { s.block_duration_ms = 10'000; }));
        d.connect(A);
        d.hello(A);
        auto r1 = d.login(A, "alice", "nope", 1);
        CHECK(r1.outcome == LoginOutcome::wrong_password);
        CHECK(r1.value == 2);
        auto r2 = d.login(A, "alice", "nope", 2);
        CHECK(r2.outcome == LoginOutcome::wrong_password);
        CHECK(r2.value == 1);
        auto r3 = d.login(A, "alice", "nope", 3);
        CHECK(r3.outcome == LoginOutcome::locked);
        CHECK(r3.value == 10);
        CHECK_FALSE(d.env.is_closed(A)); // the client may retry later on the same connection
        CHECK(d.core.online_count() == 0);
    }

    TEST_CASE("attempts while locked are refused with seconds remaining and do not extend the lock") {
        Driver d(settings_with([](CoreSettings& s) { s.block_duration_ms = 10'000; }));
        d.connect(A);
        d.hello(A);
        for (std::uint32_t i = 1; i <= 3; ++i) d.login(A, "alice", "nope", i);

        d.advance(4'000);
        auto r = d.login(A, "alice", "alice123", 4); // even the right password
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 6);
        d.advance(500);
        r = d.login(A, "alice", "nope", 5);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 6); // 5.5 s rounded up
        d.advance(3'000);
        r = d.login(A, "alice", "nope", 6);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 3); // still counting down to the original end: not extended

        d.advance(2'499);
        r = d.login(A, "alice", "alice123", 7);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 1);
        d.advance(1); // exactly block_duration after the lock
        r = d.login(A, "alice", "alice123", 8);
        CHECK(r.outcome == LoginOutcome::ok);
    }

    TEST_CASE("the lock timer lifts the lock; afterwards failures count from scratch") {
        Driver d(settings_with([](CoreSettings& s) { s.block_duration_ms = 10'000; }));
        d.connect(A);
        d.hello(A);
        for (std::uint32_t i = 1; i <= 3; ++i) d.login(A, "alice", "nope", i);
        REQUIRE(d.env.timers.next_deadline() == d.t + 10'000); // a lock timer was armed... (login deadline is later)
        d.advance(10'000);
        auto r = d.login(A, "alice", "nope", 4);
        CHECK(r.outcome == LoginOutcome::wrong_password);
        CHECK(r.value == 2);
        CHECK(d.login(A, "alice", "alice123", 5).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a failure recorded after the lock ran out but before its timer fired still counts") {
        // The reactor may read a Login in the same epoll batch as the timerfd expiry,
        // i.e. after locked_until but before on_timer(lock). That failure must not be
        // forgotten when the late timer lifts the (already expired) lock.
        Driver d(settings_with([](CoreSettings& s) { s.block_duration_ms = 10'000; }));
        d.connect(A);
        d.hello(A);
        for (std::uint32_t i = 1; i <= 3; ++i) d.login(A, "alice", "nope", i);
        d.t += 10'000; // clock moves; the lock timer has not been dispatched yet
        auto r = d.login(A, "alice", "nope", 4);
        CHECK(r.value == 2);
        d.advance(0); // now the lock timer fires
        r = d.login(A, "alice", "nope", 5);
        CHECK(r.outcome == LoginOutcome::wrong_password);
        CHECK(r.value == 1); // 2 consecutive failures so far
        r = d.login(A, "alice", "nope", 6);
        CHECK(r.outcome == LoginOutcome::locked);
    }

    TEST_CASE("a correct login resets the failure count") {
        Driver d;
        d.connect(A);
        d.hello(A);
        CHECK(d.login(A, "alice", "nope", 1).value == 2);
        CHECK(d.login(A, "alice", "nope", 2).value == 1);
        CHECK(d.login(A, "alice", "alice123", 3).outcome == LoginOutcome::ok);
        d.send(A, Logout{4});
        d.connect(B);
        d.hello(B);
        auto r = d.login(B, "alice", "nope", 1);
        CHECK(r.outcome == LoginOutcome::wrong_password);
        CHECK(r.value == 2);
    }

    TEST_CASE("unknown names answer wrong_password and lock the same way") {
        auto check_unknown = [](Driver& d) {
            d.connect(A);
            d.hello(A);
            auto r1 = d.login(A, "mallory", "x", 1);
            CHECK(r1.outcome == LoginOutcome::wrong_password);
            CHECK(r1.value == 2);
            auto r2 = d.login(A, "mallory", "x", 2);
            CHECK(r2.outcome == LoginOutcome::wrong_password);
            CHECK(r2.value == 1);
            auto r3 = d.login(A, "mallory", "x", 3);
            CHECK(r3.outcome == LoginOutcome::locked);
            CHECK(r3.value == 10);
            d.advance(3'000);
            auto r4 = d.login(A, "mallory", "x", 4);
            CHECK(r4.outcome == LoginOutcome::locked);
            CHECK(r4.value == 7);
        };
        SUBCASE("plaintext users file") {
            Driver d;
            check_unknown(d);
        }
        SUBCASE("users file with hashes: unknown names go through a decoy hash check") {
            Driver d({}, "alice:" + make_hash("alice123") + "\n");
            d.connect(B);
            d.hello(B);
            d.send(B, Login{1, "trudy", "x"});
            CHECK(d.env.pending(B) == 0); // answered only after the (decoy) hash check
            REQUIRE(d.env.jobs.size() == 1);
            CHECK(d.env.jobs.front().hash == decoy_hash());
            d.run_jobs();
            CHECK(d.env.pop<LoginResult>(B).outcome == LoginOutcome::wrong_password);
            check_unknown(d);
        }
    }

    TEST_CASE("lockout counts failures across different connections") {
        Driver d;
        for (ConnId c : {A, B, C, D}) {
            d.connect(c);
            d.hello(c);
        }
        CHECK(d.login(A, "alice", "x").value == 2);
        CHECK(d.login(B, "alice", "x").value == 1);
        CHECK(d.login(C, "alice", "x").outcome == LoginOutcome::locked);
        CHECK(d.login(D, "alice", "alice123").outcome == LoginOutcome::locked);
        // Other names are not affected.
        CHECK(d.login(D, "bob", "bob123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("already_logged_in leaves the first session untouched") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.connect(C);
        d.hello(C);
        d.env.drain_all();
        auto r = d.login(C, "alice", "alice123");
        CHECK(r.outcome == LoginOutcome::already_logged_in);
        CHECK_FALSE(d.env.is_closed(A));
        CHECK_FALSE(d.env.is_closed(C));
        CHECK(d.env.pending(A) == 0);
        CHECK(d.env.pending(B) == 0); // no presence for a login that did not happen
        CHECK(d.core.online_count() == 2);
        d.send(B, SendMessage{5, "alice", "still there?"});
        CHECK(d.result(B, 5).code == Status::ok);
        CHECK(d.env.pop<MessageEvent>(A).text == "still there?");
        CHECK(d.env.pending(C) == 0);
    }

    TEST_CASE("hashed credentials are checked through verify_password and on_verify_result") {
        const std::string hash = make_hash("s3cret");
        Driver d({}, "erin:" + hash + "\nbob bob123\n");
        d.connect(A);
        d.hello(A);

        d.send(A, Login{1, "erin", "wrong"});
        REQUIRE(d.env.jobs.size() == 1);
        CHECK(d.env.jobs.front().hash == hash);
        CHECK(d.env.jobs.front().password == "wrong");
        CHECK(d.env.pending(A) == 0);
        auto j = d.env.jobs.front();
        d.env.jobs.clear();
        d.core.on_verify_result(A, j.job, false, d.now());
        auto r = d.env.pop<LoginResult>(A);
        CHECK(r.outcome == LoginOutcome::wrong_password);
        CHECK(r.value == 2);

        d.send(A, Login{2, "erin", "s3cret"});
        REQUIRE(d.env.jobs.size() == 1);
        j = d.env.jobs.front();
        d.env.jobs.clear();
        CHECK(crypt_matches(j.hash, j.password));
        d.core.on_verify_result(A, j.job + 1000, true, d.now()); // not the job in flight: ignored
        CHECK(d.env.pending(A) == 0);
        d.core.on_verify_result(A, j.job, true, d.now());
        r = d.env.pop<LoginResult>(A);
        CHECK(r.request_id == 2);
        CHECK(r.outcome == LoginOutcome::ok);
        CHECK(d.core.online_count() == 1);

        SUBCASE("plaintext users in the same file are still checked inline") {
            d.connect(B);
            d.hello(B);
            d.send(B, Login{1, "bob", "bob123"});
            CHECK(d.env.jobs.empty());
            CHECK(d.env.pop<LoginResult>(B).outcome == LoginOutcome::ok);
        }
    }

    TEST_CASE("saturated hash workers answer unavailable; a retry later works") {
        Driver d({}, "erin:" + make_hash("s3cret") + "\n");
        d.connect(A);
        d.hello(A);
        d.env.accept_jobs = false;
        auto r = d.login(A, "erin", "s3cret");
        CHECK(r.outcome == LoginOutcome::unavailable);
        CHECK_FALSE(d.env.is_closed(A));
        d.env.accept_jobs = true;
        CHECK(d.login(A, "erin", "s3cret", 2).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a verify result for a closed connection is ignored") {
        Driver d({}, "erin:" + make_hash("s3cret") + "\n");
        d.connect(A);
        d.hello(A);
        d.send(A, Login{1, "erin", "s3cret"});
        REQUIRE(d.env.jobs.size() == 1);
        auto j = d.env.jobs.front();
        d.env.jobs.clear();
        d.core.on_disconnect(A, d.now());
        d.core.on_verify_result(A, j.job, true, d.now());
        CHECK(d.env.pending(A) == 0);
        CHECK(d.core.online_count() == 0);
        // erin is not considered online: a new connection can log in.
        d.connect(B);
        d.hello(B);
        CHECK(d.login(B, "erin", "s3cret").outcome == LoginOutcome::ok);
    }

    TEST_CASE("a correct hashed password is refused if the name got locked while it was checked") {
        Driver d({}, "erin:" + make_hash("s3cret") + "\n");
        d.connect(A);
        d.hello(A);
        d.connect(B);
        d.hello(B);
        d.send(A, Login{1, "erin", "s3cret"}); // in flight
        auto slow = d.env.jobs.front();
        d.env.jobs.clear();
        d.login(B, "erin", "x", 1);
        d.login(B, "erin", "x", 2);
        CHECK(d.login(B, "erin", "x", 3).outcome == LoginOutcome::locked);
        d.core.on_verify_result(A, slow.job, true, d.now());
        auto r = d.env.pop<LoginResult>(A);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(d.core.online_count() == 0);
    }

    TEST_CASE("no login before login_timeout: ProtocolError login_timeout and close") {
        Driver d(settings_with([](CoreSettings& s) { s.login_timeout_ms = 30'000; }));
        d.connect(A);
        d.hello(A);
        d.connect(B); // never even says Hello
        d.advance(29'999);
        CHECK_FALSE(d.env.is_closed(A));
        CHECK_FALSE(d.env.is_closed(B));
        d.advance(1);
        CHECK(d.env.pop<ProtocolError>(A).code == Status::login_timeout);
        CHECK(d.env.pop<ProtocolError>(B).code == Status::login_timeout);
        CHECK(d.env.is_closed(A));
        CHECK(d.env.is_closed(B));
        CHECK(d.core.session_count() == 0);
    }

    TEST_CASE("failed attempts do not reset the login deadline; logging in cancels it") {
        Driver d(settings_with([](CoreSettings& s) { s.login_timeout_ms = 30'000; }));
        d.connect(A);
        d.hello(A);
        d.connect(B);
        d.hello(B);
        d.advance(20'000);
        d.login(A, "alice", "nope");
        CHECK(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        d.advance(10'000);
        CHECK(d.env.pop<ProtocolError>(A).code == Status::login_timeout);
        CHECK_FALSE(d.env.is_closed(B));
        CHECK(d.env.pending(B) == 0);
    }

} // TEST_SUITE login

// ====================================================================== idle timeout

TEST_SUITE("idle") {

    TEST_CASE("idle timeout ends the session with SessionEnded timed_out; others see logout") {
        Driver d(settings_with([](CoreSettings& s) { s.timeout_ms = 300'000; }));
        d.online(A, "alice");
        d.advance(100'000);
        d.online(B, "bob");
        d.env.drain(A);
        d.advance(199'999);
        CHECK_FALSE(d.env.is_closed(A));
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 30); // timeout/10 before
        d.advance(1);
        auto e = d.env.pop<SessionEnded>(A);
        CHECK(e.reason == EndReason::timed_out);
        CHECK(d.env.is_closed(A));
        auto p = d.env.pop<PresenceEvent>(B);
        CHECK(p.kind == PresenceKind::logout);
        CHECK(p.user == "alice");
        CHECK_FALSE(d.env.is_closed(B));
        CHECK(d.core.online_count() == 1);
    }

    TEST_CASE("a shorter timeout from a reload applies to sessions already idle") {
        Driver d(settings_with([](CoreSettings& s) { s.timeout_ms = 300'000; }));
        d.online(A, "alice");
        d.advance(60'000);
        CoreSettings shorter;
        shorter.timeout_ms = 90'000;
        d.core.update_settings(shorter);
        d.advance(29'999); // 89.999 s idle
        CHECK_FALSE(d.env.is_closed(A));
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 9); // warned at 81 s, 9 s before the new deadline
        d.advance(1);                                       // 90 s idle: logged out now, not at the old 300 s deadline
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::timed_out);
        CHECK(d.env.is_closed(A));
    }

    TEST_CASE("any command postpones the idle timeout; receiving messages and acks do not") {
        Driver d(settings_with([](CoreSettings& s) { s.timeout_ms = 300'000; }));
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain(A);
        d.advance(200'000);
        d.send(A, WhoElse{2}); // alice's last command: due at 500 s
        d.advance(50'000);
        d.send(B, SendMessage{3, "alice", "ping"}); // bob's last command: due at 550 s
        d.advance(1'000);
        d.send(A, AckMessages{{1, 2, 3}}); // automatic, not user activity
        d.env.drain_all();

        d.advance(248'999); // 499.999 s after login
        CHECK_FALSE(d.env.is_closed(A));
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 30);
        d.advance(1);
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::timed_out);
        CHECK(d.env.is_closed(A));
        CHECK_FALSE(d.env.is_closed(B));
        d.env.drain(B);
        d.advance(49'999);
        CHECK_FALSE(d.env.is_closed(B));
        CHECK(d.env.pop<IdleWarning>(B).seconds_left == 30);
        d.advance(1);
        CHECK(d.env.pop<SessionEnded>(B).reason == EndReason::timed_out);
    }

    TEST_CASE("IdleWarning comes min(60 s, timeout/10) before the timeout, once per idle stretch") {
        Driver d(settings_with([](CoreSettings& s) { s.timeout_ms = 900'000; }));
        d.online(A, "alice");
        d.advance(839'999);
        CHECK(d.env.pending(A) == 0);
        d.advance(1); // 840 s idle: 60 s left (a tenth would be 90 s)
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 60);
        d.advance(59'999);
        CHECK(d.env.pending(A) == 0); // warned once, not again
        CHECK_FALSE(d.env.is_closed(A));
        d.advance(1);
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::timed_out);
    }

    TEST_CASE("a short timeout is warned a tenth of it before; a command after the warning starts afresh") {
        Driver d(settings_with([](CoreSettings& s) { s.timeout_ms = 20'000; }));
        d.online(A, "alice");
        d.advance(17'999);
        CHECK(d.env.pending(A) == 0);
        d.advance(1); // 18 s idle: 2 s left
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 2);
        d.send(A, WhoElse{5});
        d.env.drain(A);
        d.advance(17'999); // the old deadline passes; a new stretch began at the command
        CHECK(d.env.pending(A) == 0);
        CHECK_FALSE(d.env.is_closed(A));
        d.advance(1);
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 2);
        d.advance(2'000);
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::timed_out);
    }

    TEST_CASE("PrivateActivity counts as activity, gets no reply, and is refused before login") {
        Driver d(settings_with([](CoreSettings& s) { s.timeout_ms = 100'000; }));
        d.online(A, "alice");
        d.advance(95'000);
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 10); // at 90 s
        d.send(A, PrivateActivity{});                        // due again at 195 s
        CHECK(d.env.pending(A) == 0);
        d.advance(99'999);
        CHECK(d.env.pop<IdleWarning>(A).seconds_left == 10); // at 185 s
        CHECK_FALSE(d.env.is_closed(A));
        d.advance(1);
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::timed_out);

        d.connect(B);
        d.hello(B);
        d.send(B, PrivateActivity{});
        CHECK(d.result(B, 0).code == Status::not_logged_in);
        CHECK_FALSE(d.env.is_closed(B));
    }

} // TEST_SUITE idle

// ====================================================================== presence

TEST_SUITE("presence") {

    TEST_CASE("login and logout are announced to the other online users") {
        Driver d;
        d.online(A, "alice");
        d.online(C, "carol");
        d.env.drain(A);
        d.online(B, "bob");
        for (ConnId c : {A, C}) {
            auto p = d.env.pop<PresenceEvent>(c);
            CHECK(p.kind == PresenceKind::login);
            CHECK(p.user == "bob");
        }
        d.send(B, Logout{9});
        for (ConnId c : {A, C}) {
            auto p = d.env.pop<PresenceEvent>(c);
            CHECK(p.kind == PresenceKind::logout);
            CHECK(p.user == "bob");
            CHECK(d.env.pending(c) == 0);
        }
    }

    TEST_CASE("presence is hidden from users the subject has blocked") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.online(C, "carol");
        d.send(B, Block{1, "alice"});
        d.env.drain_all();
        d.send(B, Logout{2});
        CHECK(d.env.pending(A) == 0);
        CHECK(d.env.pop<PresenceEvent>(C).kind == PresenceKind::logout);
        d.online(B, "bob");
        CHECK(d.env.pending(A) == 0);
        CHECK(d.env.pop<PresenceEvent>(C).kind == PresenceKind::login);
        // The other direction is unaffected: bob still sees alice come and go.
        d.send(A, Logout{3});
        auto p = d.env.pop<PresenceEvent>(B);
        CHECK(p.user == "alice");
        CHECK(p.kind == PresenceKind::logout);
    }

    TEST_CASE("presence = false announces nothing") {
        Driver d(settings_with([](CoreSettings& s) { s.presence = false; }));
        d.online(A, "alice");
        d.online(B, "bob");
        d.send(B, Logout{1});
        CHECK(d.env.pending(A) == 0);
    }

} // TEST_SUITE presence

// ====================================================================== messages

TEST_SUITE("messages") {

    TEST_CASE("a message to an online user is delivered live") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain(A);
        d.send(A, SendMessage{5, "bob", "hello bob"});
        CHECK(d.result(A, 5).code == Status::ok);
        auto m = d.env.pop<MessageEvent>(B);
        CHECK(m.from == "alice");
        CHECK(m.text == "hello bob");
        CHECK(m.flags == 0);
        CHECK(m.sent_at_ms == std::uint64_t(d.now().wall_ms));
        CHECK(d.env.pending(A) == 0);
    }

    TEST_CASE("live messages and broadcasts from one user reach another in the order they were sent") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.send(A, SendMessage{1, "bob", "one"});
        d.send(A, Broadcast{2, "two"});
        d.send(A, SendMessage{3, "bob", "three"});
        auto one = d.env.pop<MessageEvent>(B);
        CHECK(one.text == "one");
        CHECK(d.env.pop<BroadcastEvent>(B).text == "two");
        auto three = d.env.pop<MessageEvent>(B);
        CHECK(three.text == "three");
        CHECK(one.message_id < three.message_id);
        CHECK(d.env.take_all<BroadcastEvent>(A).empty()); // a broadcast is not echoed to its sender
    }

    TEST_CASE("offline messages: stored, delivered in order at login, redelivered until acked") {
        Driver d;
        d.online(A, "alice");
        d.send(A, SendMessage{1, "bob", "first"});
        auto r = d.result(A, 1);
        CHECK(r.code == Status::ok_stored);
        CHECK(r.detail.find("bob") != std::string_view::npos);
        const auto first_at = d.now().wall_ms;
        d.advance(5'000);
        d.online(C, "carol");
        d.send(C, SendMessage{1, "bob", "second"});
        CHECK(d.result(C, 1).code == Status::ok_stored);
        const auto second_at = d.now().wall_ms;
        d.advance(60'000);

        auto bob_logs_in = [&](ConnId c) {
            d.connect(c);
            d.hello(c);
            REQUIRE(d.login(c, "bob", "bob123").outcome == LoginOutcome::ok);
            return d.env.take_all<MessageEvent>(c);
        };
        auto got = bob_logs_in(B);
        REQUIRE(got.size() == 2);
        CHECK(got[0].from == "alice");
        CHECK(got[0].text == "first");
        CHECK(got[0].sent_at_ms == std::uint64_t(first_at));
        CHECK(got[0].flags == message_flag_offline);
        CHECK(got[1].from == "carol");
        CHECK(got[1].text == "second");
        CHECK(got[1].sent_at_ms == std::uint64_t(second_at));
        CHECK(got[1].flags == message_flag_offline);
        CHECK(got[0].message_id != got[1].message_id);

        SUBCASE("not acknowledged: delivered again at the following login") {
            d.send(B, Logout{2});
            auto again = bob_logs_in(D);
            REQUIRE(again.size() == 2);
            CHECK(again[0].message_id == got[0].message_id);
            CHECK(again[1].message_id == got[1].message_id);
            CHECK(again[0].text == "first");
        }
        SUBCASE("acknowledged: gone") {
            d.send(B, AckMessages{{got[0].message_id, got[1].message_id}});
            CHECK(d.env.pending(B) == 0); // an ack has no reply
            d.send(B, Logout{2});
            CHECK(bob_logs_in(D).empty());
        }
        SUBCASE("partly acknowledged: only the rest comes again") {
            d.send(B, AckMessages{{got[0].message_id}});
            d.send(B, Logout{2});
            auto rest = bob_logs_in(D);
            REQUIRE(rest.size() == 1);
            CHECK(rest[0].text == "second");
        }
    }

    TEST_CASE("offline messages are delivered after LoginResult and before presence is announced") {
        Driver d;
        d.online(A, "alice");
        d.send(A, SendMessage{1, "bob", "hi"});
        d.env.drain(A);
        d.connect(B);
        d.hello(B);
        d.send(B, Login{4, "bob", "bob123"});
        CHECK(d.env.pop<LoginResult>(B).outcome == LoginOutcome::ok);
        CHECK(d.env.pop<MessageEvent>(B).text == "hi");
        CHECK(d.env.pending(B) == 0);
        CHECK(d.env.pop<PresenceEvent>(A).user == "bob");
    }

    TEST_CASE("message errors") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        const std::string too_long(1001, 'x');
        const std::string longest(1000, 'y');

        d.send(A, SendMessage{1, "zed", "hi"});
        CHECK(d.result(A, 1).code == Status::unknown_user);
        d.send(A, SendMessage{2, "alice", "hi"});
        CHECK(d.result(A, 2).code == Status::self_target);
        d.send(A, SendMessage{3, "not a name!", "hi"});
        CHECK(d.result(A, 3).code == Status::invalid_name);
        d.send(A, SendMessage{4, std::string(33, 'a'), "hi"});
        CHECK(d.result(A, 4).code == Status::invalid_name);
        d.send(A, SendMessage{5, "bob", ""});
        CHECK(d.result(A, 5).code == Status::invalid_text);
        d.send(A, SendMessage{6, "bob", too_long});
        CHECK(d.result(A, 6).code == Status::invalid_text);
        CHECK(d.env.pending(B) == 0);
        d.send(A, SendMessage{7, "bob", longest});
        CHECK(d.result(A, 7).code == Status::ok);
        CHECK(d.env.pop<MessageEvent>(B).text.size() == 1000);
    }

    TEST_CASE("a message to a recipient who blocked the sender is refused and not stored") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.send(B, Block{1, "alice"});
        d.send(A, SendMessage{2, "bob", "live"});
        auto r = d.env.take_all<Result>(A);
        REQUIRE(r.size() == 1);
        CHECK(r[0].code == Status::blocked_by_recipient);
        CHECK(d.env.take_all<MessageEvent>(B).empty());
        d.send(B, Logout{3});
        d.env.drain(A);
        d.send(A, SendMessage{4, "bob", "stored?"});
        CHECK(d.result(A, 4).code == Status::blocked_by_recipient);
        d.connect(C);
        d.hello(C);
        REQUIRE(d.login(C, "bob", "bob123").outcome == LoginOutcome::ok);
        CHECK(d.env.take_all<MessageEvent>(C).empty());
    }

    TEST_CASE("mailbox_full once max_offline_messages are waiting") {
        Driver d(settings_with([](CoreSettings& s) { s.max_offline_messages = 3; }));
        d.online(A, "alice");
        for (std::uint32_t i = 1; i <= 3; ++i) {
            d.send(A, SendMessage{i, "bob", "m"});
            CHECK(d.result(A, i).code == Status::ok_stored);
        }
        d.send(A, SendMessage{4, "bob", "overflow"});
        CHECK(d.result(A, 4).code == Status::mailbox_full);
        // Other mailboxes are separate.
        d.send(A, SendMessage{5, "carol", "m"});
        CHECK(d.result(A, 5).code == Status::ok_stored);
        d.connect(B);
        d.hello(B);
        d.login(B, "bob", "bob123");
        auto got = d.env.take_all<MessageEvent>(B);
        CHECK(got.size() == 3);
        CHECK(std::none_of(got.begin(), got.end(), [](const MessageEvent& m) { return m.text == "overflow"; }));
    }

} // TEST_SUITE messages

// ====================================================================== broadcast

TEST_SUITE("broadcast") {

    TEST_CASE("broadcast reaches everyone else online except those who blocked the sender") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.online(C, "carol");
        d.online(D, "dave");
        d.env.drain_all();

        d.send(A, Broadcast{1, "hi all"});
        CHECK(d.result(A, 1).code == Status::ok);
        for (ConnId c : {B, C, D}) {
            auto e = d.env.pop<BroadcastEvent>(c);
            CHECK(e.from == "alice");
            CHECK(e.text == "hi all");
            CHECK(e.sent_at_ms == std::uint64_t(d.now().wall_ms));
        }
        CHECK(d.env.pending(A) == 0);

        d.send(D, Block{1, "alice"});
        d.env.drain(D);
        d.send(A, Broadcast{2, "again"});
        auto r = d.result(A, 2);
        CHECK(r.code == Status::ok_partial);
        CHECK(d.env.pop<BroadcastEvent>(B).text == "again");
        CHECK(d.env.pop<BroadcastEvent>(C).text == "again");
        CHECK(d.env.pending(D) == 0);
        CHECK(d.env.pending(A) == 0);
    }

    TEST_CASE("broadcast with invalid text is refused and sent to nobody") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.send(A, Broadcast{1, ""});
        CHECK(d.result(A, 1).code == Status::invalid_text);
        d.send(A, Broadcast{2, std::string(1001, 'z')});
        CHECK(d.result(A, 2).code == Status::invalid_text);
        CHECK(d.env.pending(B) == 0);
    }

} // TEST_SUITE broadcast

// ====================================================================== whoelse

TEST_SUITE("whoelse") {

    TEST_CASE("whoelse lists the others online, sorted, hiding users who blocked the requester") {
        Driver d;
        d.online(A, "alice");
        d.send(A, WhoElse{1});
        CHECK(d.env.pop<UserList>(A).names.empty());
        d.online(D, "dave");
        d.online(B, "bob");
        d.online(C, "carol");
        d.env.drain_all();
        d.send(A, WhoElse{2});
        auto l = d.env.pop<UserList>(A);
        CHECK(l.request_id == 2);
        CHECK(names_of(l) == Names{"bob", "carol", "dave"});

        d.send(C, Block{1, "alice"});
        d.send(A, WhoElse{3});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob", "dave"});
        // Blocking someone does not hide them from you.
        d.send(C, WhoElse{4});
        CHECK(names_of(d.env.take_all<UserList>(C).at(0)) == Names{"alice", "bob", "dave"});
        d.send(D, Logout{1});
        d.send(A, WhoElse{5});
        CHECK(names_of(d.env.take_all<UserList>(A).at(0)) == Names{"bob"});
    }

    TEST_CASE("whoelse since N seconds: online users and those logged out within the window, once each") {
        Driver d;
        d.online(A, "alice");
        d.online(C, "carol");
        d.send(C, Logout{1}); // carol leaves at t0
        d.advance(90'000);
        d.online(B, "bob");
        d.send(B, Logout{1}); // bob leaves at t0+90
        d.online(E, "bob");
        d.send(E, Logout{1}); // ...and again at t0+90 (listed once)
        d.advance(30'000);    // now t0+120; dave never logged in
        d.env.drain(A);

        d.send(A, WhoElseSince{7, 60});
        auto l = d.env.pop<UserList>(A);
        CHECK(l.request_id == 7);
        CHECK(names_of(l) == Names{"bob"});
        d.send(A, WhoElseSince{8, 120});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob", "carol"});
        d.send(A, WhoElseSince{9, 119});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob"});

        // Users online now are included once, even if they also logged out within the window.
        d.online(B, "bob");
        d.online(D, "dave");
        d.env.drain(A);
        d.send(A, WhoElseSince{10, 3600});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob", "carol", "dave"});
        d.send(A, WhoElseSince{11, 0});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob", "dave"});

        // Users who blocked the requester are hidden here too.
        d.send(B, Block{2, "alice"});
        d.send(A, WhoElseSince{12, 3600});
        CHECK(names_of(d.env.take_all<UserList>(A).at(0)) == Names{"carol", "dave"});
    }

    TEST_CASE("a listing of more users than one frame holds is cut to max_listed_names, and still answered once") {
        // 2000 users with names of the longest length: listed in full, neither
        // a UserList nor a UserSeenList fits in one frame.
        std::vector<std::string> names;
        std::string users;
        for (int i = 0; i < 2000; ++i) {
            names.push_back(fmt::format("user{:028}", i));
            users += names.back() + " pw\n";
        }
        REQUIRE(names[0].size() == max_name_length);
        Driver d(settings_with([](CoreSettings& s) { s.presence = false; }), users);
        for (std::size_t i = 0; i < names.size(); ++i) d.online(ConnId(100 + i), names[i], "pw");
        const ConnId me = ConnId(100 + names.size() - 1); // the last name: every other one sorts before it
        const Names first(names.begin(), names.begin() + max_listed_names);

        d.send(me, WhoElse{1});
        REQUIRE(d.env.pending(me) == 1);
        auto l = d.env.pop<UserList>(me);
        CHECK(l.request_id == 1);
        CHECK(names_of(l) == first);

        d.send(me, WhoElseSinceSeen{2, 60});
        REQUIRE(d.env.pending(me) == 1);
        auto seen = d.env.pop<UserSeenList>(me);
        CHECK(seen.request_id == 2);
        CHECK(Names(seen.names.begin(), seen.names.end()) == first);
        CHECK(seen.offline_for_s == std::vector<std::uint32_t>(max_listed_names, 0));

        for (std::size_t i = 0; i + 1 < names.size(); ++i) d.send(me, Block{std::uint32_t(10 + i), names[i]});
        d.env.drain(me);
        d.send(me, ListBlocks{3});
        REQUIRE(d.env.pending(me) == 1);
        auto blocks = d.env.pop<UserList>(me);
        CHECK(blocks.request_id == 3);
        CHECK(names_of(blocks) == first);
    }

    TEST_CASE("WhoElseSinceSeen: the same users, each with how long ago they left (0 = online)") {
        Driver d;
        d.online(A, "alice");
        d.online(C, "carol");
        d.send(C, Logout{1}); // carol leaves at t0
        d.advance(90'500);
        d.online(B, "bob"); // online now
        d.env.drain(A);
        d.send(A, WhoElseSinceSeen{7, 3600});
        auto l = d.env.pop<UserSeenList>(A);
        CHECK(l.request_id == 7);
        CHECK(std::vector<std::string>(l.names.begin(), l.names.end()) == Names{"bob", "carol"});
        CHECK(l.offline_for_s == std::vector<std::uint32_t>{0, 91}); // 90.5 s, rounded up
        d.send(A, WhoElseSinceSeen{8, 4'294'967'295u});              // the largest window is fine
        CHECK(d.env.pop<UserSeenList>(A).names.size() == 2);
        d.send(A, WhoElseSinceSeen{9, 60});
        CHECK(d.env.pop<UserSeenList>(A).offline_for_s == std::vector<std::uint32_t>{0});
    }

} // TEST_SUITE whoelse

// ====================================================================== block

TEST_SUITE("block") {

    TEST_CASE("block and unblock: ok and errors") {
        Driver d;
        d.online(A, "alice");
        d.send(A, Block{1, "alice"});
        CHECK(d.result(A, 1).code == Status::self_target);
        d.send(A, Block{2, "zed"});
        CHECK(d.result(A, 2).code == Status::unknown_user);
        d.send(A, Block{3, "b@d"});
        CHECK(d.result(A, 3).code == Status::invalid_name);
        d.send(A, Unblock{4, "bob"});
        CHECK(d.result(A, 4).code == Status::not_blocked);
        d.send(A, Block{5, "bob"}); // offline users can be blocked
        auto ok = d.result(A, 5);
        CHECK(ok.code == Status::ok);
        CHECK(ok.detail == "bob is blocked");
        d.send(A, Block{6, "bob"});
        CHECK(d.result(A, 6).code == Status::already_blocked);
        d.send(A, Unblock{7, "bob"});
        auto un = d.result(A, 7);
        CHECK(un.code == Status::ok);
        CHECK(un.detail == "bob is unblocked");
        d.send(A, Unblock{8, "bob"});
        CHECK(d.result(A, 8).code == Status::not_blocked);
        d.send(A, Unblock{9, "alice"});
        CHECK(d.result(A, 9).code == Status::self_target);
        d.send(A, Unblock{10, "zed"});
        CHECK(d.result(A, 10).code == Status::unknown_user);
    }

    TEST_CASE("blocks survive logout of either user; unblock lifts them") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.send(B, Block{1, "alice"});
        d.send(B, Logout{2});
        d.env.drain_all();
        d.send(A, SendMessage{3, "bob", "hi"});
        CHECK(d.result(A, 3).code == Status::blocked_by_recipient);
        d.send(A, Logout{4});

        d.online(C, "alice");
        d.online(D, "bob");
        d.env.drain_all();
        d.send(C, SendMessage{1, "bob", "hi"});
        CHECK(d.result(C, 1).code == Status::blocked_by_recipient);
        d.send(D, Block{2, "alice"});
        CHECK(d.result(D, 2).code == Status::already_blocked);
        d.send(D, Unblock{3, "alice"});
        CHECK(d.result(D, 3).code == Status::ok);
        d.send(C, SendMessage{4, "bob", "hi again"});
        CHECK(d.result(C, 4).code == Status::ok);
        CHECK(d.env.pop<MessageEvent>(D).text == "hi again");
    }

    TEST_CASE("ListBlocks: whom I have blocked, sorted; empty when nobody") {
        Driver d;
        d.online(A, "alice");
        d.send(A, ListBlocks{1});
        auto none = d.env.pop<UserList>(A);
        CHECK(none.request_id == 1);
        CHECK(none.names.empty());
        d.send(A, Block{2, "dave"});
        d.send(A, Block{3, "bob"}); // offline users too
        d.env.drain(A);
        d.send(A, ListBlocks{4});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob", "dave"});
        d.send(A, Unblock{5, "dave"});
        d.env.drain(A);
        d.send(A, ListBlocks{6});
        CHECK(names_of(d.env.pop<UserList>(A)) == Names{"bob"});
        d.online(B, "bob");
        d.send(B, ListBlocks{1}); // someone else's list is their own
        CHECK(d.env.pop<UserList>(B).names.empty());
    }

} // TEST_SUITE block

// ====================================================================== private chat

TEST_SUITE("private") {

    TEST_CASE("startprivate errors") {
        Driver d;
        d.online(A, "alice");
        d.send(A, StartPrivate{1, "bob"});
        CHECK(d.result(A, 1).code == Status::user_offline);
        d.send(A, StartPrivate{2, "zed"});
        CHECK(d.result(A, 2).code == Status::unknown_user);
        d.send(A, StartPrivate{3, "alice"});
        CHECK(d.result(A, 3).code == Status::self_target);
        d.send(A, StartPrivate{4, "no way"});
        CHECK(d.result(A, 4).code == Status::invalid_name);

        d.online(B, "bob");
        d.env.drain_all();
        d.send(A, StartPrivate{5, "bob"}); // bob announced no listener
        CHECK(d.result(A, 5).code == Status::no_private_endpoint);
        d.send(B, PrivateListen{1, "198.51.100.9", 5000});
        CHECK(d.result(B, 1).code == Status::ok);
        d.send(B, Block{2, "alice"});
        d.env.drain(B);
        d.send(A, StartPrivate{6, "bob"});
        CHECK(d.result(A, 6).code == Status::blocked_by_recipient);
        CHECK(d.env.pending(B) == 0); // no invite
        CHECK(d.env.tokens_made == 0);
    }

    TEST_CASE("PrivateListen with port 0 is refused") {
        Driver d;
        d.online(A, "alice");
        d.send(A, PrivateListen{1, "", 0});
        auto r = d.result(A, 1);
        CHECK(r.code == Status::invalid_argument);
        CHECK(r.detail == "listener port must not be 0");
    }

    TEST_CASE("PrivateListen with a host over 255 bytes is refused, naming the host") {
        Driver d;
        d.online(A, "alice");
        const std::string host(256, 'h');
        d.send(A, PrivateListen{1, host, 5000});
        auto r = d.result(A, 1);
        CHECK(r.code == Status::invalid_argument);
        CHECK(r.detail == "listener host is longer than 255 bytes");
    }

    TEST_CASE("PrivateListen with a host name instead of an IP address is refused; IPv6 literals are fine") {
        Driver d;
        d.online(A, "alice");
        d.send(A, PrivateListen{1, "alice.example", 5000});
        auto r = d.result(A, 1);
        CHECK(r.code == Status::invalid_argument);
        CHECK(r.detail.find("must be an IP address") != std::string_view::npos);
        d.send(A, PrivateListen{2, "2001:db8::7", 5000});
        CHECK(d.result(A, 2).code == Status::ok);
    }

    TEST_CASE("startprivate introduces the initiator to the peer's listener with one token for both") {
        Driver d;
        d.online(A, "alice");
        d.connect(B, "203.0.113.50");
        d.hello(B);
        REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        d.env.drain_all();

        SUBCASE("announced host is used as is") {
            d.send(B, PrivateListen{1, "198.51.100.9", 5000});
            d.env.drain(B);
            d.send(A, StartPrivate{7, "bob"});
            auto intro = d.env.pop<PrivateIntro>(A);
            CHECK(intro.request_id == 7);
            CHECK(intro.peer == "bob");
            CHECK(intro.host == "198.51.100.9");
            CHECK(intro.port == 5000);
            auto inv = d.env.pop<PrivateInvite>(B);
            CHECK(inv.peer == "alice");
            CHECK(d.env.token_hex(inv.token) == d.env.token_hex(intro.token));

            d.send(A, StartPrivate{8, "bob"}); // tokens are single use: a new one each time
            auto intro2 = d.env.pop<PrivateIntro>(A);
            CHECK(d.env.token_hex(intro2.token) != d.env.token_hex(intro.token));
            CHECK(d.env.token_hex(d.env.pop<PrivateInvite>(B).token) == d.env.token_hex(intro2.token));
        }
        SUBCASE("empty announced host: the address the peer connected from") {
            d.send(B, PrivateListen{1, "", 6000});
            d.env.drain(B);
            d.send(A, StartPrivate{7, "bob"});
            auto intro = d.env.pop<PrivateIntro>(A);
            CHECK(intro.host == "203.0.113.50");
            CHECK(intro.port == 6000);
            CHECK(d.env.pop<PrivateInvite>(B).peer == "alice");
        }
    }

    TEST_CASE("stopprivate: ok for an introduced pair (either side), then no_private_session") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.send(B, PrivateListen{1, "", 5000});
        d.env.drain_all();
        d.send(A, StopPrivate{1, "bob"});
        CHECK(d.result(A, 1).code == Status::no_private_session);
        d.send(A, StopPrivate{11, "zed"});
        CHECK(d.result(A, 11).code == Status::no_private_session);
        d.send(A, StopPrivate{12, "in valid"});
        CHECK(d.result(A, 12).code == Status::invalid_name);
        d.send(A, StartPrivate{2, "bob"});
        d.env.drain_all();
        d.send(A, StopPrivate{3, "bob"});
        CHECK(d.result(A, 3).code == Status::ok);
        d.send(A, StopPrivate{4, "bob"});
        CHECK(d.result(A, 4).code == Status::no_private_session);

        d.send(A, StartPrivate{5, "bob"});
        d.env.drain_all();
        d.send(B, StopPrivate{2, "alice"});
        CHECK(d.result(B, 2).code == Status::ok);
        d.send(A, StopPrivate{6, "bob"});
        CHECK(d.result(A, 6).code == Status::no_private_session);
    }

    TEST_CASE("blocking during a private pairing sends PrivateRevoked to both ends") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.online(C, "carol");
        d.send(B, PrivateListen{1, "", 5000});
        d.send(C, PrivateListen{1, "", 5001});
        d.send(A, StartPrivate{2, "bob"});
        d.env.drain_all();

        d.send(B, Block{3, "alice"});
        CHECK(d.env.pop<PrivateRevoked>(A).peer == "bob");
        auto revs = d.env.take_all<PrivateRevoked>(B);
        REQUIRE(revs.size() == 1);
        CHECK(revs[0].peer == "alice");
        CHECK(d.result(B, 3).code == Status::ok);
        d.send(A, StopPrivate{4, "bob"});
        CHECK(d.result(A, 4).code == Status::no_private_session);

        // Blocking someone you have no pairing with sends nothing extra.
        d.send(C, Block{2, "alice"});
        CHECK(d.result(C, 2).code == Status::ok);
        CHECK(d.env.pending(A) == 0);
    }

} // TEST_SUITE private

// ====================================================================== session end

TEST_SUITE("session end") {

    TEST_CASE("logout: SessionEnded logged_out, close, logout presence") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.send(A, Logout{3});
        CHECK(d.env.pop<SessionEnded>(A).reason == EndReason::logged_out);
        CHECK(d.env.pending(A) == 0);
        CHECK(d.env.is_closed(A));
        auto p = d.env.pop<PresenceEvent>(B);
        CHECK(p.kind == PresenceKind::logout);
        CHECK(p.user == "alice");
        CHECK(d.core.online_count() == 1);
        CHECK(d.core.session_count() == 1);
        // No timer of the ended session is left behind.
        CHECK_FALSE(d.env.timers.armed(timer_key(TimerKind::idle, A)));
        CHECK_FALSE(d.env.timers.armed(timer_key(TimerKind::login_deadline, A)));
        // alice can log in again at once.
        d.online(C, "alice");
    }

    TEST_CASE("a dropped connection logs the user out for the others") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.core.on_disconnect(A, d.now());
        CHECK(d.env.pop<PresenceEvent>(B).kind == PresenceKind::logout);
        CHECK(d.core.online_count() == 1);
        CHECK(d.env.pending(A) == 0);
    }

    TEST_CASE("a protocol error of a logged-in client: ProtocolError, close, logout presence") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.core.on_protocol_error(A, Status::bad_request, "bad UTF-8", d.now());
        auto e = d.env.pop<ProtocolError>(A);
        CHECK(e.code == Status::bad_request);
        CHECK(e.detail == "bad UTF-8");
        CHECK(d.env.is_closed(A));
        CHECK(d.env.pop<PresenceEvent>(B).user == "alice");
    }

    TEST_CASE("shutdown: SessionEnded server_shutdown to online sessions, everyone closed") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.connect(C); // not logged in
        d.hello(C);
        d.env.drain_all();
        d.core.shutdown();
        for (ConnId c : {A, B}) {
            CHECK(d.env.pop<SessionEnded>(c).reason == EndReason::server_shutdown);
            CHECK(d.env.pending(c) == 0); // no presence noise during shutdown
            CHECK(d.env.is_closed(c));
        }
        CHECK(d.env.pending(C) == 0);
        CHECK(d.env.is_closed(C));
        CHECK(d.core.session_count() == 0);
        CHECK(d.core.online_count() == 0);
    }

} // TEST_SUITE session end

namespace {
template <class Op>
std::vector<Op> ops_of(const confab::test::FakeEnv& env) {
    std::vector<Op> out;
    for (const auto& op : env.persisted)
        if (const auto* o = std::get_if<Op>(&op)) out.push_back(*o);
    return out;
}
} // namespace

// ====================================================================== reload

TEST_SUITE("reload") {

    TEST_CASE("replace_users: new passwords apply at next login, sessions stay, new users can log in") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.core.replace_users(parse_users("alice newpass\nbob bob123\nerin erin123\n", "reload"), d.now());

        // Sessions are untouched.
        CHECK_FALSE(d.env.is_closed(A));
        d.send(A, SendMessage{1, "bob", "still here"});
        CHECK(d.result(A, 1).code == Status::ok);
        CHECK(d.env.pop<MessageEvent>(B).text == "still here");

        d.send(A, Logout{2});
        d.connect(C);
        d.hello(C);
        CHECK(d.login(C, "alice", "alice123", 1).outcome == LoginOutcome::wrong_password);
        CHECK(d.login(C, "alice", "newpass", 2).outcome == LoginOutcome::ok);

        d.connect(D);
        d.hello(D);
        CHECK(d.login(D, "erin", "erin123").outcome == LoginOutcome::ok);

        SUBCASE("removed users can no longer log in nor be messaged") {
            d.connect(E);
            d.hello(E);
            CHECK(d.login(E, "carol", "carol123").outcome == LoginOutcome::wrong_password);
            d.env.drain(D);
            d.send(D, SendMessage{2, "carol", "hi"});
            CHECK(d.result(D, 2).code == Status::unknown_user);
        }
    }

    TEST_CASE("replace_users with hashes: a changed hashed password applies at next login") {
        Driver d({}, "erin:" + make_hash("old") + "\n");
        d.online(A, "erin", "old");
        d.core.replace_users(parse_users("erin:" + make_hash("new") + "\n", "reload"), d.now());
        d.send(A, Logout{1});
        d.connect(B);
        d.hello(B);
        CHECK(d.login(B, "erin", "old", 1).outcome == LoginOutcome::wrong_password);
        CHECK(d.login(B, "erin", "new", 2).outcome == LoginOutcome::ok);
    }

    TEST_CASE("a user removed at reload is logged out with the reason; the others see them leave") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.core.replace_users(parse_users("bob bob123\ncarol carol123\ndave dave123\n", "reload"), d.now());
        auto end = d.env.pop<SessionEnded>(A);
        CHECK(end.reason == EndReason::account_removed);
        CHECK(end.detail == "your account was removed by the administrator");
        CHECK(d.env.is_closed(A));
        auto p = d.env.pop<PresenceEvent>(B);
        CHECK(p.kind == PresenceKind::logout);
        CHECK(p.user == "alice");
        CHECK(d.core.online_count() == 1);
        CHECK_FALSE(d.env.is_closed(B));
        // The name no longer logs in, and the store is told to forget it.
        d.connect(C);
        d.hello(C);
        CHECK(d.login(C, "alice", "alice123").outcome == LoginOutcome::wrong_password);
        auto forgot = ops_of<store_op::ForgetUser>(d.env);
        REQUIRE(forgot.size() == 1);
        CHECK(forgot[0].name == "alice");
    }

    TEST_CASE("a changed password at reload keeps the session; an unchanged file forgets nobody") {
        Driver d;
        d.online(A, "alice");
        d.env.drain_all();
        d.core.replace_users(parse_users("alice:$y$changed\nbob bob123\ncarol carol123\ndave dave123\n", "reload"),
                             d.now());
        d.core.replace_users(parse_users("alice other\nbob bob123\ncarol carol123\ndave dave123\n", "reload"), d.now());
        CHECK_FALSE(d.env.is_closed(A));
        CHECK(d.env.pending(A) == 0);
        CHECK(ops_of<store_op::ForgetUser>(d.env).empty());
    }

    TEST_CASE("a removed user's stored messages and blocks are gone, also when added again") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.send(A, Block{1, "bob"});
        CHECK(d.result(A, 1).code == Status::ok);
        d.send(B, Block{2, "alice"});
        CHECK(d.result(B, 2).code == Status::ok);
        d.send(A, SendMessage{5, "carol", "to carol from alice"});
        CHECK(d.result(A, 5).code == Status::ok_stored);
        d.send(B, SendMessage{6, "carol", "to carol from bob"});
        CHECK(d.result(B, 6).code == Status::ok_stored);
        d.send(A, Logout{7});
        d.online(D, "dave");
        d.env.drain_all();
        d.send(D, SendMessage{8, "alice", "to alice"});
        CHECK(d.result(D, 8).code == Status::ok_stored);
        d.env.drain_all();

        d.core.replace_users(parse_users("bob bob123\ncarol carol123\n", "reload"), d.now());
        d.core.replace_users(parse_users(confab::test::demo_users_text, "reload"), d.now()); // alice is back, afresh
        // bob no longer blocks alice: her broadcast reaches him.
        d.connect(A);
        d.hello(A);
        REQUIRE(d.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
        CHECK(d.env.take_all<MessageEvent>(A).empty()); // "to alice" went with her
        d.env.drain_all();
        d.send(A, Broadcast{9, "hello again"});
        CHECK(d.result(A, 9).code == Status::ok);
        CHECK(d.env.pop<BroadcastEvent>(B).text == "hello again");
        d.send(A, ListBlocks{10});
        CHECK(d.env.pop<UserList>(A).names.empty());
        // carol gets bob's message only: alice's went with her.
        d.connect(C);
        d.hello(C);
        REQUIRE(d.login(C, "carol", "carol123").outcome == LoginOutcome::ok);
        auto got = d.env.take_all<MessageEvent>(C);
        REQUIRE(got.size() == 1);
        CHECK(got[0].text == "to carol from bob");
    }

    TEST_CASE("a message to a removed user still being stored is answered as lost") {
        Driver d;
        d.commit_stores = false;
        d.online(B, "bob");
        d.send(B, SendMessage{1, "alice", "pending"});
        CHECK(d.env.pending(B) == 0); // not durable yet: no answer
        d.core.replace_users(parse_users("bob bob123\n", "reload"), d.now());
        auto r = d.result(B, 1);
        CHECK(r.code == Status::storage_failed);
        CHECK(r.detail == "message to alice could not be stored: the user was removed");
        d.commit_pending(); // the store's late answer changes nothing
        CHECK(d.env.pending(B) == 0);
    }

    TEST_CASE("whoelsesince no longer lists a removed user") {
        Driver d;
        d.online(A, "alice");
        d.online(B, "bob");
        d.send(B, Logout{1});
        d.env.drain_all();
        d.send(A, WhoElseSince{2, 3600});
        CHECK(names_of(d.env.pop<UserList>(A)) == std::vector<std::string>{"bob"});
        d.core.replace_users(parse_users("alice alice123\n", "reload"), d.now());
        d.send(A, WhoElseSince{3, 3600});
        CHECK(d.env.pop<UserList>(A).names.empty());
    }

    TEST_CASE("the message of the day comes right after a successful login, one notice per line") {
        CoreSettings s;
        s.motd = {"Welcome!", "Be nice."};
        Driver d(s);
        d.connect(A);
        d.hello(A);
        d.send(A, Login{1, "alice", "wrong"});
        CHECK(d.env.pop<LoginResult>(A).outcome == LoginOutcome::wrong_password);
        CHECK(d.env.pending(A) == 0); // nothing for a failed login
        d.send(A, Login{2, "alice", "alice123"});
        CHECK(d.env.pop<LoginResult>(A).outcome == LoginOutcome::ok);
        CHECK(d.env.pop<ServerNotice>(A).text == "Welcome!");
        CHECK(d.env.pop<ServerNotice>(A).text == "Be nice.");
        // A new text applies to the next login.
        s.motd = {"Changed."};
        d.core.update_settings(s);
        d.connect(C);
        d.hello(C);
        CHECK(d.login(C, "carol", "carol123").outcome == LoginOutcome::ok);
        CHECK(d.env.pop<ServerNotice>(C).text == "Changed.");
    }

} // TEST_SUITE reload

// ====================================================================== durable state

TEST_SUITE("storage") {

    TEST_CASE("messages stored before their recipient blocked the sender are dropped at delivery and deleted") {
        Driver d;
        d.online(A, "alice");
        d.online(C, "carol");
        d.env.drain_all();
        d.send(A, SendMessage{1, "bob", "before the block"});
        CHECK(d.result(A, 1).code == Status::ok_stored);
        d.send(C, SendMessage{1, "bob", "from carol"});
        CHECK(d.result(C, 1).code == Status::ok_stored);
        d.connect(B);
        d.hello(B);
        REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        auto first = d.env.take_all<MessageEvent>(B); // shown, but bob's client never acknowledged them
        REQUIRE(first.size() == 2);
        const std::uint64_t alices = first[0].from == "alice" ? first[0].message_id : first[1].message_id;
        d.send(B, Block{2, "alice"});
        d.send(B, Logout{3});
        d.env.persisted.clear();

        d.connect(B);
        d.hello(B);
        REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        auto again = d.env.take_all<MessageEvent>(B);
        REQUIRE(again.size() == 1);
        CHECK(again[0].from == "carol");
        auto del = ops_of<store_op::DeleteMessages>(d.env);
        REQUIRE(del.size() == 1); // acknowledged for bob: never delivered again
        CHECK(del[0].ids == std::vector<std::uint64_t>{alices});

        // One still being stored when the block came is dropped when its commit completes.
        d.send(B, Logout{4});
        d.commit_stores = false;
        d.send(C, SendMessage{5, "bob", "in flight"});
        d.connect(B);
        d.hello(B);
        REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        d.send(B, Block{5, "carol"});
        d.env.drain_all();
        d.env.persisted.clear();
        d.commit_pending();
        CHECK(d.env.take_all<MessageEvent>(B).empty());
        CHECK(ops_of<store_op::DeleteMessages>(d.env).size() == 1);
        CHECK(d.result(C, 5).code == Status::ok_stored);
    }

    TEST_CASE("ok_stored is answered only once the store committed the message") {
        Driver d;
        d.commit_stores = false;
        d.online(A, "alice");
        d.send(A, SendMessage{4, "bob", "durable"});
        CHECK(d.env.pending(A) == 0); // not yet
        auto ins = ops_of<store_op::InsertMessage>(d.env);
        REQUIRE(ins.size() == 1);
        CHECK(ins[0].recipient == "bob");
        CHECK(ins[0].sender == "alice");
        CHECK(ins[0].text == "durable");
        CHECK(ins[0].sent_at_ms == d.now().wall_ms);

        SUBCASE("an uncommitted message is not delivered at login; it arrives once committed") {
            d.connect(B); // bob logs in while the store is still busy
            d.hello(B);
            REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
            CHECK(d.env.take_all<MessageEvent>(B).empty());
            d.env.drain_all();
            d.commit_pending();
            CHECK(d.result(A, 4).code == Status::ok_stored);
            auto m = d.env.pop<MessageEvent>(B);
            CHECK(m.text == "durable");
            CHECK(m.flags == message_flag_offline);
            CHECK(m.message_id == ins[0].id);
        }
        SUBCASE("a failed commit answers storage_failed and the message is gone") {
            d.commit_pending(false);
            auto r = d.result(A, 4);
            CHECK(r.code == Status::storage_failed);
            CHECK(std::string(r.detail).find("disk full") != std::string::npos);
            d.connect(B);
            d.hello(B);
            REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
            CHECK(d.env.take_all<MessageEvent>(B).empty());
        }
        SUBCASE("the sender left before the commit: no reply, the message is still delivered") {
            d.send(A, Logout{5});
            d.commit_pending(); // FakeEnv fails the test on any frame to the closed connection
            d.connect(B);
            d.hello(B);
            REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
            auto got = d.env.take_all<MessageEvent>(B);
            REQUIRE(got.size() == 1);
            CHECK(got[0].text == "durable");
        }
        SUBCASE("unknown or repeated commit tags are ignored") {
            d.core.on_stored(987654, true, "");
            CHECK(d.env.pending(A) == 0);
            d.commit_pending();
            d.core.on_stored(ins[0].tag, true, "");
            CHECK(d.result(A, 4).code == Status::ok_stored);
            CHECK(d.env.pending(A) == 0);
        }
    }

    TEST_CASE("a saturated store answers storage_failed at once and nothing is stored") {
        Driver d;
        d.online(A, "alice");
        d.env.accept_stores = false;
        d.send(A, SendMessage{1, "bob", "x"});
        CHECK(d.result(A, 1).code == Status::storage_failed);
        d.env.accept_stores = true;
        d.connect(B);
        d.hello(B);
        REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        CHECK(d.env.take_all<MessageEvent>(B).empty());
    }

    TEST_CASE("live messages are not persisted; acknowledged stored messages are deleted from the store") {
        Driver d;
        d.online(A, "alice");
        d.send(A, SendMessage{1, "bob", "one"});
        d.send(A, SendMessage{2, "bob", "two"});
        d.online(B, "bob");
        d.env.persisted.clear();
        d.send(A, SendMessage{3, "bob", "live"});
        CHECK(d.env.persisted.empty());

        d.connect(C);
        d.hello(C);
        d.send(B, Logout{1});
        REQUIRE(d.login(C, "bob", "bob123").outcome == LoginOutcome::ok);
        auto got = d.env.take_all<MessageEvent>(C);
        REQUIRE(got.size() == 2);
        d.env.persisted.clear();
        d.send(C, AckMessages{{got[1].message_id, 424242}});
        auto del = ops_of<store_op::DeleteMessages>(d.env);
        REQUIRE(del.size() == 1);
        CHECK(del[0].ids == std::vector<std::uint64_t>{got[1].message_id}); // only ids that were stored
        d.send(C, AckMessages{{424242}});
        CHECK(ops_of<store_op::DeleteMessages>(d.env).size() == 1); // nothing to delete: no op
    }

    TEST_CASE("a live message overtakes a stored one whose commit completes after the recipient logged in") {
        Driver d;
        d.commit_stores = false;
        d.online(A, "alice");
        d.send(A, SendMessage{1, "bob", "stored first"});
        d.online(B, "bob"); // before the commit completes
        d.env.drain(A);
        d.send(A, SendMessage{2, "bob", "live second"});
        CHECK(d.result(A, 2).code == Status::ok); // the later request is answered first
        auto live = d.env.pop<MessageEvent>(B);
        CHECK(live.text == "live second");
        CHECK(live.flags == 0);
        d.commit_pending();
        CHECK(d.result(A, 1).code == Status::ok_stored);
        auto stored = d.env.pop<MessageEvent>(B);
        CHECK(stored.text == "stored first");
        CHECK(stored.flags == message_flag_offline);
        CHECK(stored.message_id < live.message_id); // ids keep the order the server accepted them in
        // Only the stored one is acknowledged: a live message's id is not in any mailbox.
        d.env.persisted.clear();
        d.send(B, AckMessages{{live.message_id}});
        CHECK(d.env.persisted.empty());
        d.send(B, AckMessages{{stored.message_id}});
        CHECK(ops_of<store_op::DeleteMessages>(d.env).size() == 1);
    }

    TEST_CASE("block, unblock and lockouts are persisted") {
        Driver d(settings_with([](CoreSettings& s) { s.block_duration_ms = 10'000; }));
        d.online(A, "alice");
        d.send(A, Block{1, "bob"});
        d.send(A, Block{2, "bob"}); // already blocked: no change to store
        d.send(A, Unblock{3, "bob"});
        auto blocks = ops_of<store_op::SetBlock>(d.env);
        REQUIRE(blocks.size() == 2);
        CHECK(blocks[0].blocker == "alice");
        CHECK(blocks[0].blocked == "bob");
        CHECK(blocks[0].blocked_now);
        CHECK_FALSE(blocks[1].blocked_now);

        d.connect(B);
        d.hello(B);
        for (std::uint32_t i = 1; i <= 3; ++i) d.login(B, "bob", "x", i);
        auto locks = ops_of<store_op::SetLock>(d.env);
        REQUIRE(locks.size() == 1);
        CHECK(locks[0].name == "bob");
        CHECK(locks[0].until_wall_ms == d.now().wall_ms + 10'000);
        d.advance(10'000);
        locks = ops_of<store_op::SetLock>(d.env);
        REQUIRE(locks.size() == 2);
        CHECK(locks[1].name == "bob");
        CHECK(locks[1].until_wall_ms == 0);
    }

    TEST_CASE("restore: a users file with none of the stored names (the wrong file?) forgets nothing") {
        Driver d;
        const std::int64_t w = d.now().wall_ms;
        StoredState st;
        st.messages = {{1000, "zoe", "yves", w - 1, "kept for the right users file"}};
        st.blocks = {{"yves", "xena"}};
        d.core.restore(st, d.now());
        CHECK(ops_of<store_op::ForgetUser>(d.env).empty());
        d.online(B, "bob"); // the names that are in this file still log in
        CHECK(d.env.take_all<MessageEvent>(B).empty());
    }

    TEST_CASE("restore: stored messages, blocks and running lockouts come back") {
        Driver d;
        const std::int64_t w = d.now().wall_ms;
        StoredState st;
        st.messages = {{1000, "bob", "alice", w - 60'000, "from before"},
                       {1001, "bob", "carol", w - 30'000, "also before"},
                       {1002, "bob", "ghost", w - 1, "sender no longer exists"},
                       {1003, "ghost", "alice", w - 1, "recipient no longer exists"}};
        st.blocks = {{"bob", "dave"}, {"ghost", "bob"}};
        st.locks = {{"carol", w + 5'500}, {"dave", w - 1}};
        d.core.restore(st, d.now());
        // ghost left the users file while the daemon was down: the store forgets it.
        auto forgot = ops_of<store_op::ForgetUser>(d.env);
        REQUIRE(forgot.size() == 1);
        CHECK(forgot[0].name == "ghost");
        auto cleared = ops_of<store_op::SetLock>(d.env);
        REQUIRE(cleared.size() == 1); // dave's lock ran out while the daemon was down
        CHECK(cleared[0].name == "dave");
        CHECK(cleared[0].until_wall_ms == 0);

        d.connect(B);
        d.hello(B);
        REQUIRE(d.login(B, "bob", "bob123").outcome == LoginOutcome::ok);
        auto got = d.env.take_all<MessageEvent>(B);
        REQUIRE(got.size() == 2);
        CHECK(got[0].message_id == 1000);
        CHECK(got[0].from == "alice");
        CHECK(got[0].sent_at_ms == std::uint64_t(w - 60'000));
        CHECK(got[0].flags == message_flag_offline);
        CHECK(got[1].from == "carol");

        d.online(D, "dave"); // dave's expired lock does not apply
        d.env.drain(B);
        d.send(D, SendMessage{1, "bob", "hi"});
        CHECK(d.result(D, 1).code == Status::blocked_by_recipient);

        d.connect(C);
        d.hello(C);
        auto r = d.login(C, "carol", "carol123");
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 6);
        d.advance(5'500);
        CHECK(d.login(C, "carol", "carol123", 2).outcome == LoginOutcome::ok);

        // New message ids never collide with restored ones.
        d.env.drain_all();
        d.send(C, SendMessage{3, "bob", "new"});
        CHECK(d.env.pop<MessageEvent>(B).message_id > 1003);
    }

} // TEST_SUITE storage

TEST_CASE("utf8 cut: an invalid name echoed in an error reply is cut on a character boundary") {
    Driver d;
    d.online(A, "alice");
    d.env.drain_all();
    // 63 bytes of 'x' then a two-byte 'é': the echo limit (64 bytes) falls inside the 'é'.
    const std::string name = std::string(63, 'x') + "\xC3\xA9";
    d.send(A, SendMessage{1, name, "hi"});
    auto r = d.result(A, 1);
    CHECK(r.code == Status::invalid_name);
    CHECK(is_valid_utf8(r.detail));
    CHECK(r.detail.find(std::string(63, 'x')) != std::string_view::npos);
    d.send(A, Block{2, name});
    auto b = d.result(A, 2);
    CHECK(b.code == Status::invalid_name);
    CHECK(is_valid_utf8(b.detail));
}

TEST_SUITE("hostile input") {

    TEST_CASE("a user over its delivery rate is answered rate_limited, and may send again once refilled") {
        Driver d(settings_with([](CoreSettings& s) { s.user_deliveries = Rate{10, 3}; }));
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        for (std::uint32_t i = 1; i <= 3; ++i) {
            d.send(A, SendMessage{i, "bob", "hi"});
            CHECK(d.result(A, i).code == Status::ok);
        }
        d.send(A, SendMessage{4, "bob", "hi"});
        auto r = d.result(A, 4);
        CHECK(r.code == Status::rate_limited);
        CHECK(r.detail.find("retry in") != std::string_view::npos);
        CHECK(d.env.take_all<MessageEvent>(B).size() == 3); // refused, not delivered
        d.advance(100);
        d.send(A, SendMessage{5, "bob", "hi"});
        CHECK(d.result(A, 5).code == Status::ok);
        // Another user's allowance is its own.
        d.env.drain(B);
        d.send(B, SendMessage{1, "alice", "hi"});
        CHECK(d.result(B, 1).code == Status::ok);
    }

    TEST_CASE("a broadcast weighs one delivery per user it reaches") {
        Driver d(settings_with([](CoreSettings& s) { s.user_deliveries = Rate{1, 4}; }));
        d.online(A, "alice");
        d.online(B, "bob");
        d.online(C, "carol");
        d.online(D, "dave");
        d.env.drain_all();
        d.send(A, Broadcast{1, "one"}); // reaches 3: 3 of 4 spent
        CHECK(d.result(A, 1).code == Status::ok);
        d.send(A, Broadcast{2, "two"}); // 3 more would exceed the burst
        CHECK(d.result(A, 2).code == Status::rate_limited);
        d.send(A, SendMessage{3, "bob", "direct"}); // 1 still fits
        CHECK(d.result(A, 3).code == Status::ok);
        CHECK(d.env.take_all<BroadcastEvent>(B).size() == 1);
    }

    TEST_CASE("message bytes per user are limited too") {
        Driver d(settings_with([](CoreSettings& s) { s.user_bytes = Rate{100, 150}; }));
        d.online(A, "alice");
        d.online(B, "bob");
        d.env.drain_all();
        d.send(A, SendMessage{1, "bob", std::string(100, 'x')});
        CHECK(d.result(A, 1).code == Status::ok);
        d.send(A, SendMessage{2, "bob", std::string(100, 'x')});
        CHECK(d.result(A, 2).code == Status::rate_limited);
        d.send(A, SendMessage{3, "bob", std::string(50, 'x')});
        CHECK(d.result(A, 3).code == Status::ok);
    }

    TEST_CASE("an address over its wrong-password budget is refused before any check and locks no name") {
        Driver d(settings_with([](CoreSettings& s) { s.address.failed_logins = Rate{1.0 / 10, 3}; }));
        d.connect(A, "198.51.100.1");
        d.hello(A);
        CHECK(d.login(A, "carol", "nope", 1).outcome == LoginOutcome::wrong_password);
        CHECK(d.login(A, "dave", "nope", 2).outcome == LoginOutcome::wrong_password);
        CHECK(d.login(A, "alice", "nope", 3).outcome == LoginOutcome::wrong_password);
        auto r = d.login(A, "alice", "nope", 4);
        CHECK(r.outcome == LoginOutcome::too_many_attempts);
        CHECK(r.value > 0);
        CHECK(d.login(A, "alice", "nope", 5).outcome == LoginOutcome::too_many_attempts);
        // alice had one failure counted; the refused ones did not lock her.
        d.connect(B, "203.0.113.9");
        d.hello(B);
        CHECK(d.login(B, "alice", "alice123", 1).outcome == LoginOutcome::ok);
        // Even the right password waits from an address over its budget.
        CHECK(d.login(A, "bob", "bob123", 6).outcome == LoginOutcome::too_many_attempts);
        d.advance(10'001); // one attempt refilled
        CHECK(d.login(A, "bob", "bob123", 7).outcome == LoginOutcome::ok);
    }

    TEST_CASE("admission: one address cannot take every slot for strangers") {
        Driver d(settings_with([](CoreSettings& s) {
            s.address.max_unauthenticated_per_address = 2;
            s.address.max_unauthenticated = 3;
        }));
        CHECK(d.core.admit("198.51.100.1", d.now()).ok);
        d.connect(A, "198.51.100.1");
        d.connect(B, "198.51.100.1");
        auto busy = d.core.admit("198.51.100.1", d.now());
        CHECK_FALSE(busy.ok);
        CHECK(busy.code == Status::server_busy);
        CHECK(busy.detail.find("your address") != std::string::npos);
        CHECK(d.core.admit("203.0.113.9", d.now()).ok);
        // A stranger that logs in frees its address's slot; one that leaves does too.
        d.hello(A);
        REQUIRE(d.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
        CHECK(d.core.admit("198.51.100.1", d.now()).ok);
        d.connect(C, "198.51.100.1");
        CHECK_FALSE(d.core.admit("198.51.100.1", d.now()).ok);
        d.core.on_disconnect(C, d.now());
        CHECK(d.core.admit("198.51.100.1", d.now()).ok);
        // Strangers closed at the login deadline leave too.
        d.connect(C, "198.51.100.1");
        d.advance(30'000);
        CHECK(d.core.admit("198.51.100.1", d.now()).ok);
    }
}
