#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace confab::bench {

int Histogram::index_of(std::uint64_t v) noexcept {
    if (v < sub_count) return int(v); // exact below 32 ns
    int msb = 63 - std::countl_zero(v);
    int shift = msb - sub_bits; // keep the top sub_bits+1 bits
    int sub = int((v >> shift) & (sub_count - 1));
    return (shift + 1) * sub_count + sub;
}

std::uint64_t Histogram::upper_of(int index) noexcept {
    if (index < sub_count) return std::uint64_t(index);
    int shift = index / sub_count - 1;
    std::uint64_t sub = std::uint64_t(index % sub_count);
    return (((std::uint64_t(sub_count) + sub + 1) << shift)) - 1;
}

void Histogram::record(std::int64_t ns) noexcept {
    std::uint64_t v = ns < 0 ? 0 : std::uint64_t(ns);
    ++buckets_[std::size_t(std::min(index_of(v), bucket_count - 1))];
    ++count_;
    max_ = std::max(max_, std::int64_t(v));
}

void Histogram::merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
}

std::int64_t Histogram::quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    auto rank = std::uint64_t(std::ceil(std::clamp(q, 0.0, 1.0) * double(count_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (int i = 0; i < bucket_count; ++i) {
        seen += buckets_[std::size_t(i)];
        if (seen >= rank) return std::min(std::int64_t(upper_of(i)), max_);
    }
    return max_;
}

} // namespace confab::bench
