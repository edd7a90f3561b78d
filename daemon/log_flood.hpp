// Log lines that a hostile peer can cause at will (refused connections,
// login deadlines, wrong passwords, ...) are rate-limited per kind: the first
// `lines_per_interval` of an interval are written, the rest only counted, and
// summarize_floods() (called by the loop every `interval_seconds`) writes one
// summary line per kind: "... 4,987 more connections closed at the login
// deadline in the last 10 s". The counters belong to the reactor thread.
#pragma once

#include "log.hpp"

#include <cstdint>

namespace confab::log {

enum class Flood : std::uint8_t {
    refused_connection, // max_connections or per-address limits
    login_deadline,     // closed without logging in
    failed_login,       // wrong password or unknown name
    locked_name,        // a name locked after too many failures
    dropped_client,     // protocol errors and slow readers
    count_
};
inline constexpr int interval_seconds = 10;
inline constexpr std::uint32_t lines_per_interval = 20;

// True if one more line of `kind` may be written now; otherwise it is counted.
bool admit(Flood kind) noexcept;
// One line per kind with suppressed events since the last call; resets the interval.
void summarize_floods() noexcept;

template <class... A>
void flood(Flood kind, Level l, fmt::format_string<A...> f, A&&... a) {
    if (level() >= l && admit(kind)) write(l, fmt::format(f, std::forward<A>(a)...));
}

} // namespace confab::log
