// TimerQueue: a pure heap of deadlines with lazy cancellation.
#include "core/timer_queue.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

using confab::TimerQueue;
using Keys = std::vector<TimerQueue::Key>;

TEST_CASE("timers expire in deadline order, only once due") {
    TimerQueue q;
    q.arm(1, 300);
    q.arm(2, 100);
    q.arm(3, 200);
    CHECK(q.size() == 3);
    CHECK(q.expire(99).empty());
    CHECK(q.expire(250) == Keys{2, 3});
    CHECK(q.size() == 1);
    CHECK(q.expire(250).empty()); // expired timers are gone
    CHECK(q.expire(1000) == Keys{1});
    CHECK(q.size() == 0);
    CHECK_FALSE(q.next_deadline());
}

TEST_CASE("equal deadlines expire in arming order") {
    TimerQueue q;
    for (TimerQueue::Key k : {5, 3, 9, 1, 7}) q.arm(k, 50);
    CHECK(q.expire(50) == Keys{5, 3, 9, 1, 7});
}

TEST_CASE("a cancelled timer never fires") {
    TimerQueue q;
    q.arm(1, 10);
    q.arm(2, 20);
    q.cancel(1);
    CHECK_FALSE(q.armed(1));
    CHECK(q.armed(2));
    CHECK(q.size() == 1);
    CHECK(q.next_deadline() == 20);
    CHECK(q.expire(100) == Keys{2});
    q.cancel(42); // unknown key: harmless
    CHECK(q.size() == 0);
}

TEST_CASE("re-arming moves a timer, earlier or later, and it fires once") {
    TimerQueue q;
    q.arm(1, 100);
    q.arm(2, 150);
    q.arm(1, 200); // later
    CHECK(q.size() == 2);
    CHECK(q.next_deadline() == 150);
    CHECK(q.expire(199) == Keys{2});
    CHECK(q.expire(1000) == Keys{1});

    q.arm(3, 500);
    q.arm(3, 50); // earlier
    CHECK(q.next_deadline() == 50);
    CHECK(q.expire(60) == Keys{3});
    CHECK(q.expire(1000).empty());

    SUBCASE("a re-armed timer is FIFO behind timers armed before its re-arming") {
        q.arm(10, 5);
        q.arm(11, 5);
        q.arm(10, 5);
        CHECK(q.expire(5) == Keys{11, 10});
    }
}

TEST_CASE("a timer armed again after it fired fires again") {
    TimerQueue q;
    q.arm(7, 10);
    CHECK(q.expire(10) == Keys{7});
    q.arm(7, 20);
    CHECK(q.armed(7));
    CHECK(q.expire(20) == Keys{7});
}

TEST_CASE("next_deadline skips cancelled timers") {
    TimerQueue q;
    CHECK_FALSE(q.next_deadline().has_value());
    q.arm(1, 10);
    q.arm(2, 20);
    q.arm(3, 30);
    CHECK(q.next_deadline() == 10);
    q.cancel(1);
    CHECK(q.next_deadline() == 20);
    q.cancel(2);
    q.cancel(3);
    CHECK_FALSE(q.next_deadline().has_value());
}

TEST_CASE("100k timers in random order expire sorted, FIFO within equal deadlines") {
    TimerQueue q;
    constexpr TimerQueue::Key n = 100'000;
    std::mt19937_64 rng(12345);
    std::vector<confab::TimePoint> deadline(n);
    for (TimerQueue::Key k = 0; k < n; ++k) {
        deadline[k] = confab::TimePoint(rng() % 5000); // many equal deadlines
        q.arm(k, deadline[k]);
    }
    CHECK(q.size() == n);
    Keys all;
    for (confab::TimePoint t = 0; t < 5000; t += 97) {
        auto part = q.expire(t);
        for (auto k : part) CHECK_MESSAGE(deadline[k] <= t, "key ", k, " fired early");
        all.insert(all.end(), part.begin(), part.end());
    }
    auto rest = q.expire(5000);
    all.insert(all.end(), rest.begin(), rest.end());
    REQUIRE(all.size() == n);
    Keys expected(n);
    for (TimerQueue::Key k = 0; k < n; ++k) expected[k] = k;
    std::stable_sort(expected.begin(), expected.end(), [&](auto a, auto b) { return deadline[a] < deadline[b]; });
    CHECK(all == expected);
    CHECK(q.size() == 0);
}

TEST_CASE("stale heap entries are compacted: memory stays bounded under churn") {
    TimerQueue q;
    SUBCASE("one key re-armed a million times") {
        for (int i = 0; i < 1'000'000; ++i) q.arm(1, i);
        CHECK(q.size() == 1);
        CHECK(q.heap_size() <= 64);
        CHECK(q.next_deadline() == 999'999);
    }
    SUBCASE("10 keys re-armed repeatedly") {
        for (int i = 0; i < 100'000; ++i) q.arm(TimerQueue::Key(i % 10), 1000 - i % 1000);
        CHECK(q.size() == 10);
        CHECK(q.heap_size() <= 64);
    }
    SUBCASE("arm and cancel many distinct keys") {
        for (TimerQueue::Key k = 0; k < 200'000; ++k) {
            q.arm(k, confab::TimePoint(k));
            if (k % 100 != 0) q.cancel(k);
        }
        CHECK(q.size() == 2000);
        CHECK(q.heap_size() <= 2 * q.size() + 64);
        auto fired = q.expire(1'000'000);
        REQUIRE(fired.size() == 2000);
        CHECK(fired.front() == 0);
        CHECK(fired.back() == 199'900);
    }
    SUBCASE("cancel everything") {
        for (TimerQueue::Key k = 0; k < 10'000; ++k) q.arm(k, 5);
        for (TimerQueue::Key k = 0; k < 10'000; ++k) q.cancel(k);
        CHECK(q.size() == 0);
        CHECK(q.heap_size() <= 64);
        CHECK(q.expire(100).empty());
    }
}

TEST_CASE("expire with a budget hands out the earliest due keys and keeps the rest due") {
    confab::TimerQueue q;
    for (std::uint64_t k = 1; k <= 10; ++k) q.arm(k, confab::TimePoint(100 + k));
    auto first = q.expire(1000, 4);
    CHECK(first == std::vector<confab::TimerQueue::Key>{1, 2, 3, 4});
    CHECK(q.next_deadline() == confab::TimePoint(105));
    auto rest = q.expire(1000, 100);
    CHECK(rest.size() == 6);
    CHECK(rest.front() == 5);
    CHECK(q.expire(1000, 4).empty());
}
