#include "log_flood.hpp"

#include <array>

namespace confab::log {
namespace {
struct Counter {
    std::uint32_t written = 0;
    std::uint64_t suppressed = 0;
};
std::array<Counter, std::size_t(Flood::count_)> counters;

std::string_view what(Flood kind) noexcept {
    switch (kind) {
    case Flood::refused_connection: return "connections refused";
    case Flood::login_deadline: return "connections closed at the login deadline";
    case Flood::failed_login: return "failed logins";
    case Flood::locked_name: return "names locked";
    case Flood::dropped_client: return "connections dropped";
    case Flood::count_: break;
    }
    return "events";
}

Level level_of(Flood kind) noexcept {
    switch (kind) {
    case Flood::refused_connection:
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

void summarize_floods() noexcept {
    for (std::size_t i = 0; i < counters.size(); ++i) {
        Counter& c = counters[i];
        if (c.suppressed > 0) {
            Flood kind = Flood(i);
            if (level() >= level_of(kind))
                write(level_of(kind), fmt::format("... {} more {} in the last {} s (not logged one by one)",
                                                  c.suppressed, what(kind), interval_seconds));
        }
        c = Counter{};
    }
}

} // namespace confab::log
