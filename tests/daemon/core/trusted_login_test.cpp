// The lock rule with trusted addresses (PROTOCOL.md §7.2), rule by rule:
// ChatCore through FakeEnv under a fake clock, and TrustedAddresses alone.
#include "fake_env.hpp"

using namespace confab;
using namespace confab::proto;
using confab::test::Driver;

namespace {

constexpr ConnId A = 1, B = 2, C = 3;
constexpr const char* home = "192.0.2.7";        // where alice logs in from
constexpr const char* attacker = "198.51.100.1"; // never logged in as alice
constexpr const char* elsewhere = "203.0.113.9";

CoreSettings ten_second_locks() {
    CoreSettings s;
    s.block_duration_ms = 10'000;
    return s;
}

// Logs `name` in from `host` on `c`, then out again.
void log_in_and_out(Driver& d, ConnId c, std::string_view name, std::string host) {
    d.connect(c, std::move(host));
    d.hello(c);
    REQUIRE(d.login(c, name, std::string(name) + "123").outcome == LoginOutcome::ok);
    d.core.on_disconnect(c, d.now());
}

void fail_three_times(Driver& d, ConnId c, std::string_view name, std::string host) {
    d.connect(c, std::move(host));
    d.hello(c);
    for (std::uint32_t i = 1; i <= 3; ++i) d.login(c, name, "wrong", i);
}

template <class Op>
std::vector<Op> ops_of(const test::FakeEnv& env) {
    std::vector<Op> out;
    for (const auto& op : env.persisted)
        if (const auto* o = std::get_if<Op>(&op)) out.push_back(*o);
    return out;
}

} // namespace

TEST_SUITE("trusted addresses") {

    TEST_CASE("a storm from elsewhere locks the name there but not at an address the user logged in from") {
        Driver d(ten_second_locks());
        log_in_and_out(d, A, "alice", home);
        fail_three_times(d, B, "alice", attacker);
        // The assignment's rule holds for the attacker: locked, even with the right password.
        auto r = d.login(B, "alice", "alice123", 4);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 10);
        d.connect(C, elsewhere); // any address alice has not logged in from is locked too
        d.hello(C);
        CHECK(d.login(C, "alice", "alice123").outcome == LoginOutcome::locked);
        // The real user, from home, is let in.
        d.connect(A, home);
        d.hello(A);
        CHECK(d.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("wrong passwords from a trusted address count there and lock the name for that address") {
        Driver d(ten_second_locks());
        log_in_and_out(d, A, "alice", home);
        d.connect(A, home);
        d.hello(A);
        CHECK(d.login(A, "alice", "wrong", 1).value == 2);
        CHECK(d.login(A, "alice", "wrong", 2).value == 1);
        auto r = d.login(A, "alice", "wrong", 3);
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 10);
        CHECK(d.login(A, "alice", "alice123", 4).outcome == LoginOutcome::locked);
        // That lock is home's own: the name's count elsewhere is untouched.
        d.connect(B, elsewhere);
        d.hello(B);
        auto other = d.login(B, "alice", "wrong", 1);
        CHECK(other.outcome == LoginOutcome::wrong_password);
        CHECK(other.value == 2);
        d.advance(10'000);
        CHECK(d.login(A, "alice", "alice123", 5).outcome == LoginOutcome::ok);
    }

    TEST_CASE("failures from elsewhere do not use up the attempts of a trusted address") {
        Driver d(ten_second_locks());
        log_in_and_out(d, A, "alice", home);
        d.connect(B, attacker);
        d.hello(B);
        d.login(B, "alice", "wrong", 1);
        d.login(B, "alice", "wrong", 2);
        d.connect(A, home);
        d.hello(A);
        auto r = d.login(A, "alice", "wrong");
        CHECK(r.outcome == LoginOutcome::wrong_password);
        CHECK(r.value == 2);
    }

    TEST_CASE("a name no one logged in as has no trusted address: locked from everywhere") {
        Driver d(ten_second_locks());
        fail_three_times(d, B, "alice", attacker);
        d.connect(A, home);
        d.hello(A);
        CHECK(d.login(A, "alice", "alice123").outcome == LoginOutcome::locked);
        fail_three_times(d, C, "nobody", attacker);
        CHECK(d.login(A, "nobody", "x", 2).outcome == LoginOutcome::locked);
    }

    TEST_CASE("at most four trusted addresses per user: the least recent is forgotten") {
        Driver d(ten_second_locks());
        const char* hosts[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"};
        for (const char* h : hosts) log_in_and_out(d, A, "alice", h);
        log_in_and_out(d, A, "alice", "192.0.2.2"); // used again: now the most recent
        fail_three_times(d, B, "alice", attacker);
        d.connect(C, "192.0.2.1");
        d.hello(C);
        CHECK(d.login(C, "alice", "alice123").outcome == LoginOutcome::locked);
        d.core.on_disconnect(C, d.now());
        for (const char* h : {"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}) {
            CAPTURE(h);
            d.connect(C, h);
            d.hello(C);
            REQUIRE(d.login(C, "alice", "alice123").outcome == LoginOutcome::ok);
            d.core.on_disconnect(C, d.now());
        }
    }

    TEST_CASE("an IPv6 address is trusted by its /64") {
        Driver d(ten_second_locks());
        log_in_and_out(d, A, "alice", "2001:db8:1:2::10");
        fail_three_times(d, B, "alice", "2001:db8:9::1");
        d.connect(A, "2001:db8:1:2:aaaa::77");
        d.hello(A);
        CHECK(d.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("trusted addresses are persisted, forgotten ones cleared, and restored at start-up") {
        Driver d(ten_second_locks());
        for (const char* h : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}) log_in_and_out(d, A, "alice", h);
        log_in_and_out(d, A, "alice", "192.0.2.4"); // already the most recent: nothing to write
        auto ops = ops_of<store_op::SetTrustedAddress>(d.env);
        REQUIRE(ops.size() == 4);
        CHECK(ops[3].name == "alice");
        CHECK(ops[3].address == "192.0.2.4");
        CHECK(ops[3].at_wall_ms > 0);
        d.env.persisted.clear();
        log_in_and_out(d, A, "alice", "192.0.2.5");
        ops = ops_of<store_op::SetTrustedAddress>(d.env);
        REQUIRE(ops.size() == 2);
        CHECK(ops[0].address == "192.0.2.5");
        CHECK(ops[1].address == "192.0.2.1");
        CHECK(ops[1].at_wall_ms == 0);

        Driver restarted(ten_second_locks());
        const std::int64_t w = restarted.now().wall_ms;
        StoredState st;
        st.trusted = {{"alice", home, w - 60'000}, {"ghost", home, w - 1}};
        st.locks = {{"alice", w + 5'000}};
        restarted.core.restore(st, restarted.now());
        restarted.connect(A, home);
        restarted.hello(A);
        CHECK(restarted.login(A, "alice", "alice123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("a lock of a trusted address is stored under the name and address and restored") {
        Driver d(ten_second_locks());
        log_in_and_out(d, A, "alice", home);
        d.env.persisted.clear();
        fail_three_times(d, A, "alice", home);
        auto locks = ops_of<store_op::SetLock>(d.env);
        REQUIRE(locks.size() == 1);
        CHECK(locks[0].name == std::string("alice@") + home);

        Driver restarted(ten_second_locks());
        const std::int64_t w = restarted.now().wall_ms;
        StoredState st;
        st.trusted = {{"alice", home, w - 60'000}};
        st.locks = {{locks[0].name, w + 5'000}};
        restarted.core.restore(st, restarted.now());
        restarted.connect(A, home);
        restarted.hello(A);
        auto r = restarted.login(A, "alice", "alice123");
        CHECK(r.outcome == LoginOutcome::locked);
        CHECK(r.value == 5);
        restarted.connect(B, elsewhere);
        restarted.hello(B);
        CHECK(restarted.login(B, "alice", "alice123").outcome == LoginOutcome::ok);
    }

    TEST_CASE("an administrator's unlock lifts the name's lock and those of its trusted addresses") {
        Driver d(ten_second_locks());
        log_in_and_out(d, A, "alice", home);
        fail_three_times(d, A, "alice", home);
        fail_three_times(d, B, "alice", attacker);
        CHECK(d.core.unlock("alice", d.now()).detail == "alice unlocked");
        CHECK(d.login(A, "alice", "alice123", 4).outcome == LoginOutcome::ok);
        CHECK(d.login(B, "alice", "wrong", 4).value == 2); // the count starts again
    }

} // TEST_SUITE trusted addresses

TEST_CASE("TrustedAddresses: most recent first, bounded, a repeat of the most recent changes nothing") {
    TrustedAddresses t;
    CHECK(t.remember("a").changed);
    CHECK_FALSE(t.remember("a").changed);
    for (const char* k : {"b", "c", "d"}) CHECK_FALSE(t.remember(k).evicted);
    auto full = t.remember("e");
    REQUIRE(full.evicted);
    CHECK(*full.evicted == "a");
    CHECK(t.remember("c").changed); // moved to the front, nothing forgotten
    CHECK(t.keys() == std::vector<std::string>{"c", "e", "d", "b"});
    CHECK(t.contains("b"));
    CHECK_FALSE(t.contains("a"));
}
