// Timer keys: kind and id come back out as they went in, for every kind.
#include "core/timer_key.hpp"

#include <doctest/doctest.h>

using namespace confab;

TEST_CASE("a key gives back its kind and its id, up to the largest 56-bit id") {
    const std::uint64_t largest = (std::uint64_t(1) << 56) - 1;
    for (TimerKind k : {TimerKind::login_deadline, TimerKind::idle, TimerKind::lock, TimerKind::route_answer,
                        TimerKind::claim_retry, TimerKind::close_deadline, TimerKind::watchdog, TimerKind::status,
                        TimerKind::log_summary, TimerKind::control_idle, TimerKind::metrics_idle,
                        TimerKind::redis_retry, TimerKind::cluster_heartbeat, TimerKind::cluster_liveness}) {
        for (std::uint64_t id : {std::uint64_t(0), std::uint64_t(1), std::uint64_t(1) << 32 | 7, largest}) {
            const auto key = timer_key(k, id);
            CHECK(timer_kind(key) == k);
            CHECK(timer_id(key) == id);
        }
    }
}

TEST_CASE("the same id under two kinds makes two keys") {
    CHECK(timer_key(TimerKind::idle, 42) != timer_key(TimerKind::login_deadline, 42));
    CHECK(timer_key(TimerKind::close_deadline, 42) != timer_key(TimerKind::idle, 42));
}
