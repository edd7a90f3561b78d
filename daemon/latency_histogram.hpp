// A latency histogram with fixed bucket bounds, as the metrics export it
// (Prometheus histogram: cumulative buckets, a sum and a count). Recording is
// a few comparisons and plain integer increments; no allocation. The owner
// decides the thread (the reactor's loop histogram, the store's under its lock).
#pragma once

#include <array>
#include <cstdint>

namespace confab {

class LatencyHistogram {
public:
    // Upper bounds in microseconds; a last, implicit bucket is +Inf.
    static constexpr std::array<std::int64_t, 16> bounds_us = {10,      50,      100,       250,      500,    1'000,
                                                               2'500,   5'000,   10'000,    25'000,   50'000, 100'000,
                                                               250'000, 500'000, 1'000'000, 2'500'000};

    void observe_us(std::int64_t us) noexcept {
        std::size_t i = 0;
        while (i < bounds_us.size() && us > bounds_us[i]) ++i;
        ++buckets_[i];
        ++count_;
        sum_us_ += us > 0 ? std::uint64_t(us) : 0;
    }
    // Samples in bucket i alone (not cumulative); i == bounds_us.size() is +Inf.
    std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i]; }
    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t sum_us() const noexcept { return sum_us_; }

private:
    std::array<std::uint64_t, bounds_us.size() + 1> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t sum_us_ = 0;
};

} // namespace confab
