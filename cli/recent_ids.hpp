// The message ids seen most recently, to show a redelivered message once.
// Bounded: past `capacity` the oldest id is forgotten (a redelivery that old
// would be shown twice, which beats unbounded memory fed by the server).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_set>

namespace confab::cli {

class RecentIds {
public:
    explicit RecentIds(std::size_t capacity) : capacity_(capacity) {}

    // True if `id` was not among the recent ones (it now is).
    bool insert(std::uint64_t id) {
        if (!ids_.insert(id).second) return false;
        order_.push_back(id);
        if (order_.size() > capacity_) {
            ids_.erase(order_.front());
            order_.pop_front();
        }
        return true;
    }
    std::size_t size() const noexcept { return order_.size(); }

private:
    std::size_t capacity_;
    std::unordered_set<std::uint64_t> ids_;
    std::deque<std::uint64_t> order_; // oldest first
};

} // namespace confab::cli
