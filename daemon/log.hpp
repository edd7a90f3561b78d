// Leveled logging to stderr, one line per event. Under systemd (stderr is
// the journal stream) lines carry a `<N>` syslog priority prefix instead of
// a timestamp, so `journalctl -p warning` filters correctly.
// Called from the reactor thread and from hash workers; each line is one write(2).
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string_view>

namespace confab::log {

enum class Level : int { error = 3, warning = 4, notice = 5, info = 6, debug = 7 }; // syslog numbers

void set_level(Level l) noexcept;
Level level() noexcept;
void set_journal_prefix(bool on) noexcept;
std::optional<Level> parse_level(std::string_view s) noexcept;
std::string_view to_string(Level l) noexcept;

void write(Level l, std::string_view text) noexcept;

template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
    write(Level::error, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void warning(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::warning) write(Level::warning, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void notice(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::notice) write(Level::notice, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::info) write(Level::info, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::debug) write(Level::debug, fmt::format(f, std::forward<A>(a)...));
}

} // namespace confab::log
