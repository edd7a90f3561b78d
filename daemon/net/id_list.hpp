// Connection ids queued for one pass of the event loop (to flush, to read
// again), each at most once: the caller keeps a flag per connection saying
// whether it is listed. take() hands the list over and starts a new one in a
// kept spare, so a pass may queue ids for the next pass while it runs and
// nothing is allocated per loop iteration once warm.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace confab {

class IdList {
public:
    // Lists `id` unless `listed` says it already is; sets `listed`.
    void push(std::uint64_t id, bool& listed) {
        if (listed) return;
        listed = true;
        ids_.push_back(id);
    }
    bool empty() const noexcept { return ids_.empty(); }
    // The ids listed so far, valid until the next take(); clearing their flags is the caller's job.
    std::span<const std::uint64_t> take() noexcept {
        taken_.clear();
        taken_.swap(ids_);
        return taken_;
    }

private:
    std::vector<std::uint64_t> ids_, taken_;
};

} // namespace confab
