// Consecutive-failure counting and lockouts per login name, known or not.
// Pure: times are passed in; the caller arms a timer for each new lock and
// calls lift() when it fires, so locks end by the loop's timer, not by polling.
#pragma once

#include "core/timer_queue.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace confab {

class Lockout {
public:
    static constexpr std::uint32_t max_failures = 3;

    explicit Lockout(std::int64_t block_ms) : block_ms_(block_ms) {}
    void set_block_duration(std::int64_t ms) { block_ms_ = ms; }

    // Milliseconds until `name` unlocks, or 0 when it is not locked.
    std::int64_t locked_for(std::string_view name, TimePoint now) const;

    struct Failure {
        std::uint32_t attempts_left; // 0 means the name is now locked
        TimePoint locked_until;      // valid when attempts_left == 0
    };
    Failure record_failure(std::string_view name, TimePoint now);
    void record_success(std::string_view name);
    // A lock read back from durable state at start-up.
    void restore(std::string_view name, TimePoint locked_until);
    // The lock timer fired: forget the lock if it has run out. Returns true if lifted.
    bool lift(std::string_view name, TimePoint now);

    std::size_t tracked() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::uint32_t failures = 0;
        TimePoint locked_until = 0;
    };
    // Bound on names tracked: failure counts of unlocked names are the first to go.
    static constexpr std::size_t max_entries = 100'000;
    void prune(TimePoint now);

    std::int64_t block_ms_;
    std::unordered_map<std::string, Entry> entries_;
};

} // namespace confab
