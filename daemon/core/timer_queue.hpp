// Deadline timers keyed by a 64-bit key, for the single timerfd of the loop.
// A binary heap with lazy cancellation: arm is O(log n), cancel O(1) (the
// heap entry is left behind and skipped when it surfaces), and the heap is
// rebuilt when stale entries outnumber live ones so memory stays bounded.
// Pure data structure: no clock, no syscalls. Single-threaded.
#pragma once

#include "core/clock.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace confab {

class TimerQueue {
public:
    using Key = std::uint64_t;

    // Sets (or moves) the timer for `key` to fire at `deadline`.
    void arm(Key key, TimePoint deadline);
    void cancel(Key key);
    bool armed(Key key) const { return live_.count(key) != 0; }
    std::optional<TimePoint> next_deadline();

    // Removes every timer due at `now` and returns their keys, earliest first.
    // A callback may re-arm: re-armed timers are not returned again in this call.
    // At most `max` of them, earliest first; the rest stay due for the next call.
    std::vector<Key> expire(TimePoint now, std::size_t max = SIZE_MAX);

    std::size_t size() const noexcept { return live_.size(); }
    std::size_t heap_size() const noexcept { return heap_.size(); } // live + stale, for tests

private:
    struct Entry {
        TimePoint deadline;
        std::uint64_t seq; // orders equal deadlines FIFO; also identifies the arming
        Key key;
    };
    struct Later {
        bool operator()(const Entry& a, const Entry& b) const noexcept {
            return a.deadline != b.deadline ? a.deadline > b.deadline : a.seq > b.seq;
        }
    };
    void drop_stale_top();
    void compact_if_sparse();

    std::vector<Entry> heap_;
    std::unordered_map<Key, std::uint64_t> live_; // key -> seq of its current arming
    std::uint64_t next_seq_ = 0;
};

} // namespace confab
