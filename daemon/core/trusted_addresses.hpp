// The few source addresses a user logged in from successfully most recently
// (address keys as AddressLimits counts them: IPv4 address, IPv6 /64). A name
// locked by wrong passwords from elsewhere still admits a login from one of
// these, so a password storm cannot keep the real user out (PROTOCOL.md §7.2).
// Bounded: at most `capacity` addresses per user, the least recent forgotten.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab {

class TrustedAddresses {
public:
    static constexpr std::size_t capacity = 4;

    bool contains(std::string_view key) const { return std::find(keys_.begin(), keys_.end(), key) != keys_.end(); }

    struct Change {
        bool changed;                       // false: `key` was already the most recent
        std::optional<std::string> evicted; // the address forgotten to make room
    };
    // A successful login from `key`: it becomes the most recent.
    Change remember(std::string_view key) {
        auto it = std::find(keys_.begin(), keys_.end(), key);
        if (it == keys_.begin() && it != keys_.end()) return {false, std::nullopt};
        Change c{true, std::nullopt};
        if (it != keys_.end()) {
            keys_.erase(it);
        } else if (keys_.size() == capacity) {
            c.evicted = std::move(keys_.back());
            keys_.pop_back();
        }
        keys_.insert(keys_.begin(), std::string(key));
        return c;
    }
    void clear() { keys_.clear(); }
    // Most recent first.
    const std::vector<std::string>& keys() const noexcept { return keys_; }

private:
    std::vector<std::string> keys_;
};

} // namespace confab
