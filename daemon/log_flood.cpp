#include "log_flood.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace confab::log {
namespace {
struct Counter {
    std::uint32_t written = 0;
    std::uint64_t suppressed = 0;
    // Of the suppressed ones counted by admit_from, per address (the first tracked_addresses).
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> by_address;
};
std::array<Counter, std::size_t(Flood::count_)> counters;

std::string_view what(Flood kind) noexcept {
    switch (kind) {
    case Flood::refused_connection: return "connections refused";
    case Flood::login_deadline: return "connections closed at the login deadline";
    case Flood::failed_login: return "failed logins";
    case Flood::locked_name: return "names locked";
    case Flood::dropped_client: return "connections dropped";
    case Flood::cluster_error: return "cluster errors";
    case Flood::count_: break;
    }
    return "events";
}

Level level_of(Flood kind) noexcept {
    switch (kind) {
    case Flood::refused_connection:
    case Flood::cluster_error:
    case Flood::locked_name: return Level::warning;
    case Flood::failed_login: return Level::notice;
    default: return Level::info;
    }
}
} // namespace

bool admit(Flood kind) noexcept {
    Counter& c = counters[std::size_t(kind)];
    if (c.written < lines_per_interval) {
        ++c.written;
        return true;
    }
    ++c.suppressed;
    return false;
}

bool admit_from(Flood kind, std::string_view address) noexcept {
    if (admit(kind)) return true;
    Counter& c = counters[std::size_t(kind)];
    // Beyond tracked_addresses (or out of memory) an event counts among "other addresses".
    try {
        if (auto it = c.by_address.find(address); it != c.by_address.end())
            ++it->second;
        else if (c.by_address.size() < tracked_addresses)
            c.by_address.emplace(address, 1);
    } catch (const std::bad_alloc&) {}
    return false;
}

namespace {
// "... 4987 more failed logins from 192.0.2.7 in the last 10 s": packaging/fail2ban matches these.
void summarize_by_address(Flood kind, Counter& c) {
    std::vector<std::pair<std::string_view, std::uint64_t>> busiest(c.by_address.begin(), c.by_address.end());
    const std::size_t shown = std::min(busiest.size(), summary_addresses);
    std::partial_sort(busiest.begin(), busiest.begin() + std::ptrdiff_t(shown), busiest.end(),
                      [](const auto& a, const auto& b) { return a.second > b.second; });
    std::uint64_t by_shown = 0;
    for (std::size_t k = 0; k < shown; ++k) {
        by_shown += busiest[k].second;
        write(level_of(kind), fmt::format("... {} more {} from {} in the last {} s (not logged one by one)",
                                          busiest[k].second, what(kind), busiest[k].first, interval_seconds));
    }
    // The rest: addresses past the busiest, beyond tracked_addresses, and events counted by admit().
    if (std::uint64_t rest = c.suppressed - by_shown)
        write(level_of(kind),
              fmt::format("... {} more {} from other addresses in the last {} s (not logged one by one)", rest,
                          what(kind), interval_seconds));
}
} // namespace

void summarize_floods() noexcept {
    for (std::size_t i = 0; i < counters.size(); ++i) {
        Counter& c = counters[i];
        const Flood kind = Flood(i);
        if (c.suppressed > 0 && level() >= level_of(kind)) {
            if (c.by_address.empty()) {
                write(level_of(kind), fmt::format("... {} more {} in the last {} s (not logged one by one)",
                                                  c.suppressed, what(kind), interval_seconds));
            } else {
                try {
                    summarize_by_address(kind, c);
                } catch (const std::exception&) {
                    write(level_of(kind), "... more suppressed events (their summary failed)");
                }
            }
        }
        c = Counter{};
    }
}

} // namespace confab::log
