#include "core/timer_queue.hpp"

#include <algorithm>

namespace confab {

void TimerQueue::arm(Key key, TimePoint deadline) {
    std::uint64_t seq = next_seq_++;
    live_[key] = seq;
    heap_.push_back({deadline, seq, key});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    compact_if_sparse();
}

void TimerQueue::cancel(Key key) {
    live_.erase(key);
    compact_if_sparse();
}

void TimerQueue::drop_stale_top() {
    while (!heap_.empty()) {
        const Entry& top = heap_.front();
        auto it = live_.find(top.key);
        if (it != live_.end() && it->second == top.seq) return;
        std::pop_heap(heap_.begin(), heap_.end(), Later{});
        heap_.pop_back();
    }
}

std::optional<TimePoint> TimerQueue::next_deadline() {
    drop_stale_top();
    if (heap_.empty()) return std::nullopt;
    return heap_.front().deadline;
}

std::vector<TimerQueue::Key> TimerQueue::expire(TimePoint now, std::size_t max) {
    std::vector<Key> due;
    while (due.size() < max) {
        drop_stale_top();
        if (heap_.empty() || heap_.front().deadline > now) break;
        due.push_back(heap_.front().key);
        live_.erase(heap_.front().key);
        std::pop_heap(heap_.begin(), heap_.end(), Later{});
        heap_.pop_back();
    }
    return due;
}

void TimerQueue::compact_if_sparse() {
    // Rebuild only when stale entries dominate, so the cost amortises to O(1) per cancel.
    if (heap_.size() < 64 || heap_.size() < 2 * live_.size()) return;
    std::erase_if(heap_, [this](const Entry& e) {
        auto it = live_.find(e.key);
        return it == live_.end() || it->second != e.seq;
    });
    std::make_heap(heap_.begin(), heap_.end(), Later{});
}

} // namespace confab
