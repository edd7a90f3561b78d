// Token buckets that may go into debt: a request is allowed if its cost fits
// or the bucket is full, and then pays its whole cost, so one request larger than the
// burst (a broadcast to 10,000 users) is still possible, after which the
// sender waits until the debt is paid off. Pure: times are passed in.
// A bucket is 16 bytes and starts full; the rate lives once, in the caller.
#pragma once

#include "core/clock.hpp"

#include <algorithm>
#include <cstdint>

namespace confab {

struct Rate {
    double per_second = 0; // 0: unlimited
    double burst = 0;      // what may be spent at once from a full bucket
    bool unlimited() const noexcept { return per_second <= 0; }
};

class TokenBucket {
public:
    // Takes `cost` if it fits (a full bucket takes any cost); returns 0, or the
    // milliseconds until it will fit (then the request is refused and costs nothing).
    std::int64_t take(const Rate& r, double cost, TimePoint now) noexcept {
        if (r.unlimited()) return 0;
        if (std::int64_t wait = wait_ms(r, cost, now)) return wait;
        spent_ += cost;
        return 0;
    }
    // Milliseconds until a request of `cost` would be allowed (0: now).
    std::int64_t wait_ms(const Rate& r, double cost, TimePoint now) noexcept {
        if (r.unlimited()) return 0;
        refill(r, now);
        if (spent_ <= 0 || spent_ + cost <= r.burst) return 0;
        const double excess = cost >= r.burst ? spent_ : spent_ + cost - r.burst;
        return std::int64_t(excess / r.per_second * 1000) + 1;
    }

private:
    void refill(const Rate& r, TimePoint now) noexcept {
        if (now > last_) spent_ = std::max(0.0, spent_ - double(now - last_) * r.per_second / 1000);
        last_ = std::max(last_, now);
    }
    double spent_ = 0; // tokens below full (may exceed the burst: debt)
    TimePoint last_ = 0;
};

} // namespace confab
