// Consecutive-failure counting and lockouts per login name, known or not
// (or per name and trusted address: see scoped()).
// Pure: times are passed in; the caller arms a timer for each new lock and
// calls lift() when it fires, so locks end by the loop's timer, not by polling.
//
// Cost: every operation is O(log n) at any size (a hash map by name plus an
// ordered eviction index), never a scan. Memory is bounded by max_entries:
// when full, the name whose failure count is oldest is forgotten first, and
// only when every tracked name is locked does the lock ending soonest go.
#pragma once

#include "core/clock.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace confab {

class Lockout {
public:
    static constexpr std::uint32_t max_failures = 3;
    // Bound on names tracked (failure counts and running locks together):
    // about 150 bytes each plus the name, so at most ~20 MB.
    static constexpr std::size_t default_max_entries = 100'000;

    explicit Lockout(std::int64_t block_ms, std::size_t max_entries = default_max_entries)
        : block_ms_(block_ms), max_entries_(max_entries) {}
    void set_block_duration(std::int64_t ms) { block_ms_ = ms; }

    // The key failures are counted under when `name` is tried from one of its
    // trusted addresses (TrustedAddresses): that address's own count and lock,
    // apart from the name's. '@' never occurs in a valid name.
    static std::string scoped(std::string_view name, std::string_view address_key) {
        std::string key(name);
        key += '@';
        key += address_key;
        return key;
    }
    // The name a key counts for: the key itself, or what precedes a scoped() key's '@'.
    static std::string_view name_of(std::string_view key) { return key.substr(0, key.find('@')); }
    // A key for logs: "'alice'" or "'alice' from 192.0.2.7".
    static std::string label(std::string_view key);

    // Milliseconds until `name` unlocks, or 0 when it is not locked.
    std::int64_t locked_for(std::string_view name, TimePoint now) const;

    struct Failure {
        std::uint32_t attempts_left; // 0 means the name is now locked
        TimePoint locked_until;      // valid when attempts_left == 0
    };
    Failure record_failure(std::string_view name, TimePoint now);
    void record_success(std::string_view name);
    // Has `name` a failure count or a lock?
    bool tracks(std::string_view name) const { return find(name) != entries_.end(); }
    // A lock read back from durable state at start-up.
    void restore(std::string_view name, TimePoint locked_until);
    // The lock timer fired: forget the lock if it has run out. Returns true if lifted.
    bool lift(std::string_view name, TimePoint now);

    std::size_t tracked() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::uint32_t failures = 0;
        TimePoint locked_until = 0; // 0: not locked
        TimePoint since = 0;        // last failure (counters) or lock end (locks): eviction order
    };
    using Map = std::unordered_map<std::string, Entry>;
    // Eviction order: counters (false) before locks (true), then oldest first.
    // The name points at the map's key, which never moves (node-based map).
    using EvictKey = std::tuple<bool, TimePoint, const std::string*>;

    static EvictKey evict_key(const Map::value_type& kv) {
        return {kv.second.locked_until != 0, kv.second.since, &kv.first};
    }
    Map::iterator find(std::string_view name);
    Map::const_iterator find(std::string_view name) const;
    Map::iterator emplace(std::string_view name);
    void erase(Map::iterator it);
    // Changes an entry and keeps the eviction index in step.
    template <typename F>
    void update(Map::iterator it, F&& change) {
        order_.erase(evict_key(*it));
        change(it->second);
        order_.insert(evict_key(*it));
    }

    std::int64_t block_ms_;
    std::size_t max_entries_;
    Map entries_;
    std::set<EvictKey> order_;
};

} // namespace confab
