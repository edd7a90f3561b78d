// Latency histogram with ~3% relative precision over ns..hours (log buckets
// split into 32 linear sub-buckets, as HdrHistogram does). Fixed size, no
// allocation per sample; one per thread, merged at the end.
#pragma once

#include <array>
#include <cstdint>

namespace confab::bench {

class Histogram {
public:
    void record(std::int64_t ns) noexcept;
    void merge(const Histogram& other) noexcept;
    std::uint64_t count() const noexcept { return count_; }
    // Value at quantile q in [0,1] (upper edge of its bucket), in ns; 0 if empty.
    std::int64_t quantile(double q) const noexcept;
    std::int64_t max() const noexcept { return max_; }

private:
    static constexpr int sub_bits = 5;
    static constexpr int sub_count = 1 << sub_bits;
    static constexpr int bucket_count = (65 - sub_bits) * sub_count;
    static int index_of(std::uint64_t v) noexcept;
    static std::uint64_t upper_of(int index) noexcept;

    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::int64_t max_ = 0;
};

} // namespace confab::bench
