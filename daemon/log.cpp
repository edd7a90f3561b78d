#include "log.hpp"

#include <fmt/chrono.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <iterator>

namespace confab::log {
namespace {
std::atomic<int> current_level{int(Level::info)};
std::atomic<bool> journal_prefix{false};
} // namespace

void set_level(Level l) noexcept {
    current_level = int(l);
}
Level level() noexcept {
    return Level(current_level.load(std::memory_order_relaxed));
}
void set_journal_prefix(bool on) noexcept {
    journal_prefix = on;
}

std::optional<Level> parse_level(std::string_view s) noexcept {
    if (s == "error") return Level::error;
    if (s == "warning") return Level::warning;
    if (s == "notice") return Level::notice;
    if (s == "info") return Level::info;
    if (s == "debug") return Level::debug;
    return std::nullopt;
}

std::string_view to_string(Level l) noexcept {
    switch (l) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
    }
    return "?";
}

void write(Level l, std::string_view text) noexcept {
    fmt::memory_buffer line;
    try {
        if (journal_prefix) {
            fmt::format_to(std::back_inserter(line), "<{}>{}\n", int(l), text);
        } else {
            timespec ts{};
            clock_gettime(CLOCK_REALTIME, &ts);
            fmt::format_to(std::back_inserter(line), "{:%Y-%m-%d %H:%M:%S}.{:03} {}: {}\n", fmt::localtime(ts.tv_sec),
                           ts.tv_nsec / 1000000, to_string(l), text);
        }
    } catch (...) {
        return; // out of memory while logging: drop the line rather than throw
    }
    // One write per line keeps lines whole when workers log concurrently.
    const char* p = line.data();
    std::size_t n = line.size();
    while (n > 0) {
        ssize_t w = ::write(STDERR_FILENO, p, n);
        if (w < 0) return;
        p += w;
        n -= std::size_t(w);
    }
}

} // namespace confab::log
