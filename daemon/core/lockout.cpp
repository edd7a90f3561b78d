#include "core/lockout.hpp"

namespace confab {

std::int64_t Lockout::locked_for(std::string_view name, TimePoint now) const {
    auto it = entries_.find(std::string(name));
    if (it == entries_.end() || it->second.locked_until <= now) return 0;
    return it->second.locked_until - now;
}

Lockout::Failure Lockout::record_failure(std::string_view name, TimePoint now) {
    if (entries_.size() >= max_entries) prune(now);
    Entry& e = entries_[std::string(name)];
    if (e.locked_until > now) return {0, e.locked_until}; // a lock is never extended
    // A lock that ran out before its timer was dispatched: this failure starts a new count.
    e.locked_until = 0;
    if (++e.failures >= max_failures) {
        e.failures = 0;
        e.locked_until = now + block_ms_;
        return {0, e.locked_until};
    }
    return {max_failures - e.failures, 0};
}

void Lockout::restore(std::string_view name, TimePoint locked_until) {
    entries_[std::string(name)] = Entry{0, locked_until};
}

void Lockout::record_success(std::string_view name) {
    entries_.erase(std::string(name));
}

bool Lockout::lift(std::string_view name, TimePoint now) {
    auto it = entries_.find(std::string(name));
    if (it == entries_.end() || it->second.locked_until == 0 || it->second.locked_until > now) return false;
    entries_.erase(it);
    return true;
}

void Lockout::prune(TimePoint now) {
    std::erase_if(entries_, [now](const auto& kv) { return kv.second.locked_until <= now; });
}

} // namespace confab
