// Lockout: consecutive failures per name, pure (times passed in).
#include "core/lockout.hpp"

#include <doctest/doctest.h>

#include <string>

using confab::Lockout;

TEST_CASE("three consecutive failures lock the name for block_duration") {
    Lockout l(10'000);
    CHECK(l.locked_for("alice", 0) == 0);
    auto f1 = l.record_failure("alice", 100);
    CHECK(f1.attempts_left == 2);
    auto f2 = l.record_failure("alice", 200);
    CHECK(f2.attempts_left == 1);
    auto f3 = l.record_failure("alice", 300);
    CHECK(f3.attempts_left == 0);
    CHECK(f3.locked_until == 10'300);
    CHECK(l.locked_for("alice", 300) == 10'000);
    CHECK(l.locked_for("alice", 10'299) == 1);
    CHECK(l.locked_for("alice", 10'300) == 0);
    CHECK(l.locked_for("bob", 300) == 0); // per name
}

TEST_CASE("a failure while locked does not extend the lock") {
    Lockout l(10'000);
    for (int i = 0; i < 3; ++i) l.record_failure("alice", 0);
    auto f = l.record_failure("alice", 5'000);
    CHECK(f.attempts_left == 0);
    CHECK(f.locked_until == 10'000);
    CHECK(l.locked_for("alice", 5'000) == 5'000);
}

TEST_CASE("success resets the count") {
    Lockout l(10'000);
    l.record_failure("alice", 0);
    l.record_failure("alice", 0);
    l.record_success("alice");
    CHECK(l.record_failure("alice", 0).attempts_left == 2);
}

TEST_CASE("lift only after the lock ran out; afterwards counting starts again") {
    Lockout l(10'000);
    for (int i = 0; i < 3; ++i) l.record_failure("alice", 0);
    CHECK_FALSE(l.lift("alice", 9'999));
    CHECK(l.locked_for("alice", 9'999) == 1);
    CHECK(l.lift("alice", 10'000));
    CHECK(l.tracked() == 0);
    CHECK(l.record_failure("alice", 10'001).attempts_left == 2);
    CHECK_FALSE(l.lift("nobody", 10'000));
}

TEST_CASE("a failure after an expired lock whose timer has not run yet counts toward a new lock") {
    Lockout l(10'000);
    for (int i = 0; i < 3; ++i) l.record_failure("alice", 0);
    CHECK(l.record_failure("alice", 10'000).attempts_left == 2);
    l.lift("alice", 10'000); // the late timer must not wipe the new count
    CHECK(l.record_failure("alice", 10'001).attempts_left == 1);
    CHECK(l.record_failure("alice", 10'002).attempts_left == 0);
    CHECK(l.locked_for("alice", 10'002) == 10'000);
}

TEST_CASE("set_block_duration applies to the next lock; restore puts back a running lock") {
    Lockout l(10'000);
    l.set_block_duration(2'000);
    for (int i = 0; i < 3; ++i) l.record_failure("alice", 0);
    CHECK(l.locked_for("alice", 0) == 2'000);
    l.restore("bob", 7'000);
    CHECK(l.locked_for("bob", 1'000) == 6'000);
    CHECK(l.record_failure("bob", 1'000).attempts_left == 0);
    CHECK(l.locked_for("bob", 1'000) == 6'000);
}

TEST_CASE("when full, the oldest failure count is forgotten before any running lock") {
    Lockout l(10'000, 3);
    for (int i = 0; i < 3; ++i) l.record_failure("locked", 0); // a running lock
    l.record_failure("old", 1);
    l.record_failure("new", 2);
    CHECK(l.tracked() == 3);
    l.record_failure("newest", 3); // evicts "old", the oldest counter
    CHECK(l.tracked() == 3);
    CHECK(l.locked_for("locked", 3) == 9'997);
    CHECK(l.record_failure("new", 4).attempts_left == 1); // kept its count
    CHECK(l.record_failure("old", 5).attempts_left == 2); // started again (evicted "newest")
}

TEST_CASE("when every tracked name is locked, the lock that ends soonest goes first") {
    Lockout l(10'000, 2);
    for (int i = 0; i < 3; ++i) l.record_failure("early", 0);
    for (int i = 0; i < 3; ++i) l.record_failure("late", 500);
    l.record_failure("stranger", 600);
    CHECK(l.tracked() == 2);
    CHECK(l.locked_for("early", 600) == 0);
    CHECK(l.locked_for("late", 600) == 9'900);
}

TEST_CASE("a full table of running locks stays bounded and correct through many more failures") {
    Lockout l(1'000'000, 1'000);
    for (int n = 0; n < 5'000; ++n)
        for (int i = 0; i < 3; ++i) l.record_failure("name" + std::to_string(n), n);
    CHECK(l.tracked() == 1'000);
    // The newest 1,000 locks survive, each with its own end time.
    CHECK(l.locked_for("name4999", 5'000) == 999'999);
    CHECK(l.locked_for("name4000", 5'000) == 999'000);
    CHECK(l.locked_for("name3999", 5'000) == 0);
    // Lifting and success keep the index in step with the map.
    CHECK(l.lift("name4000", 1'004'000));
    l.record_success("name4001");
    CHECK(l.tracked() == 998);
}
