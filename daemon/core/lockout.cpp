#include "core/lockout.hpp"

#include <fmt/format.h>

namespace confab {

std::string Lockout::label(std::string_view key) {
    auto at = key.find('@');
    if (at == std::string_view::npos) return fmt::format("'{}'", key);
    return fmt::format("'{}' from {}", key.substr(0, at), key.substr(at + 1));
}

Lockout::Map::iterator Lockout::find(std::string_view name) {
    return entries_.find(std::string(name));
}
Lockout::Map::const_iterator Lockout::find(std::string_view name) const {
    return entries_.find(std::string(name));
}

Lockout::Map::iterator Lockout::emplace(std::string_view name) {
    auto it = find(name);
    if (it != entries_.end()) return it;
    if (entries_.size() >= max_entries_ && !order_.empty()) erase(find(*std::get<2>(*order_.begin())));
    it = entries_.emplace(std::string(name), Entry{}).first;
    order_.insert(evict_key(*it));
    return it;
}

void Lockout::erase(Map::iterator it) {
    order_.erase(evict_key(*it));
    entries_.erase(it);
}

std::int64_t Lockout::locked_for(std::string_view name, TimePoint now) const {
    auto it = find(name);
    if (it == entries_.end() || it->second.locked_until <= now) return 0;
    return it->second.locked_until - now;
}

Lockout::Failure Lockout::record_failure(std::string_view name, TimePoint now) {
    auto it = emplace(name);
    if (it->second.locked_until > now) return {0, it->second.locked_until}; // a lock is never extended
    Failure result{};
    update(it, [&](Entry& e) {
        // A lock that ran out before its timer was dispatched: this failure starts a new count.
        e.locked_until = 0;
        e.since = now;
        if (++e.failures >= max_failures) {
            e.failures = 0;
            e.locked_until = e.since = now + block_ms_;
            result = {0, e.locked_until};
        } else {
            result = {max_failures - e.failures, 0};
        }
    });
    return result;
}

void Lockout::restore(std::string_view name, TimePoint locked_until) {
    update(emplace(name), [&](Entry& e) { e = Entry{0, locked_until, locked_until}; });
}

void Lockout::record_success(std::string_view name) {
    if (auto it = find(name); it != entries_.end()) erase(it);
}

bool Lockout::lift(std::string_view name, TimePoint now) {
    auto it = find(name);
    if (it == entries_.end() || it->second.locked_until == 0 || it->second.locked_until > now) return false;
    erase(it);
    return true;
}

} // namespace confab
