// AddressLimits and TokenBucket: limits on strangers per source address, pure.
#include "core/address_limits.hpp"
#include "core/token_bucket.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace confab;
using Admission = AddressLimits::Admission;

TEST_CASE("a token bucket allows its burst, then what the rate refills, and a full bucket takes any cost") {
    const Rate r{10, 3}; // 10 per second, 3 at once
    TokenBucket b;
    CHECK(b.take(r, 1, 0) == 0);
    CHECK(b.take(r, 1, 0) == 0);
    CHECK(b.take(r, 1, 0) == 0);
    CHECK(b.take(r, 1, 0) == 101); // empty: one token is 100 ms away
    CHECK(b.take(r, 1, 100) == 0);
    CHECK(b.take(r, 1, 100) > 0);
    // A request bigger than the burst passes from a full bucket and leaves a debt.
    TokenBucket big;
    CHECK(big.take(r, 100, 0) == 0);
    CHECK(big.wait_ms(r, 1, 0) == 9'801); // 98 owed beyond the burst at 10 per second
    CHECK(big.take(r, 1, 5'000) > 0);
    CHECK(big.take(r, 1, 9'801) == 0);
    // A second big request waits until the bucket is full again.
    TokenBucket twice;
    twice.take(r, 50, 0);
    CHECK(twice.wait_ms(r, 50, 0) == 5'001);
    CHECK(TokenBucket{}.take(Rate{}, 1e9, 0) == 0); // rate 0: unlimited
}

TEST_CASE("one address may hold only so many connections before logging in") {
    AddressLimitSettings s;
    s.max_unauthenticated_per_address = 2;
    s.max_unauthenticated = 3;
    AddressLimits l(s);
    for (int i = 0; i < 2; ++i) {
        REQUIRE(l.admit("10.0.0.1", 0).verdict == Admission::ok);
        l.opened("10.0.0.1");
    }
    CHECK(l.admit("10.0.0.1", 0).verdict == Admission::address_busy);
    // Another address still gets in, up to the total.
    CHECK(l.admit("10.0.0.2", 0).verdict == Admission::ok);
    l.opened("10.0.0.2");
    CHECK(l.admit("10.0.0.3", 0).verdict == Admission::server_busy);
    // Logging in or leaving frees the slot.
    l.authenticated("10.0.0.1");
    CHECK(l.unauthenticated() == 2);
    CHECK(l.admit("10.0.0.1", 0).verdict == Admission::ok);
    l.closed_unauthenticated("10.0.0.2");
    l.closed_unauthenticated("10.0.0.2"); // a second close changes nothing
    CHECK(l.unauthenticated() == 1);
}

TEST_CASE("IPv6 addresses count by /64; IPv4 by address") {
    CHECK(AddressLimits::key_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
    CHECK(AddressLimits::key_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64");
    CHECK(AddressLimits::key_of("192.0.2.7") == "192.0.2.7");
    AddressLimitSettings s;
    s.max_unauthenticated_per_address = 1;
    AddressLimits l(s);
    l.opened("2001:db8:1:2::1");
    CHECK(l.admit("2001:db8:1:2::2", 0).verdict == Admission::address_busy);
    CHECK(l.admit("2001:db8:1:3::1", 0).verdict == Admission::ok);
}

TEST_CASE("connections per second per address are limited, with a retry time") {
    AddressLimitSettings s;
    s.connects = Rate{2, 2};
    AddressLimits l(s);
    CHECK(l.admit("10.0.0.1", 0).verdict == Admission::ok);
    CHECK(l.admit("10.0.0.1", 0).verdict == Admission::ok);
    auto d = l.admit("10.0.0.1", 0);
    CHECK(d.verdict == Admission::too_fast);
    CHECK(d.retry_ms > 0);
    CHECK(l.admit("10.0.0.2", 0).verdict == Admission::ok); // per address
    CHECK(l.admit("10.0.0.1", 500).verdict == Admission::ok);
}

TEST_CASE("wrong passwords per address: over the budget an address must wait") {
    AddressLimitSettings s;
    s.failed_logins = Rate{10.0 / 300, 10}; // 10 per 5 minutes
    AddressLimits l(s);
    for (int i = 0; i < 10; ++i) {
        CHECK(l.failures_wait_ms("10.0.0.1", 0) == 0);
        l.record_failure("10.0.0.1", 0);
    }
    CHECK(l.failures_wait_ms("10.0.0.1", 0) > 29'000);
    CHECK(l.failures_wait_ms("10.0.0.2", 0) == 0);
    CHECK(l.failures_wait_ms("10.0.0.1", 30'001) == 0);
}

TEST_CASE("memory is bounded: idle addresses are forgotten oldest first, busy ones never") {
    AddressLimitSettings s;
    s.max_unauthenticated_per_address = 1;
    AddressLimits l(s, 100);
    l.opened("10.9.9.9"); // holds a stranger connection for the whole test
    for (int i = 0; i < 1000; ++i) l.admit("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), i);
    CHECK(l.tracked() <= 100);
    CHECK(l.admit("10.9.9.9", 2000).verdict == Admission::address_busy); // still counted
}
