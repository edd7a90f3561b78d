// Log lines that a hostile peer can cause at will (refused connections,
// login deadlines, wrong passwords, ...) are rate-limited per kind: the first
// `lines_per_interval` of an interval are written, the rest only counted, and
// summarize_floods() (called by the loop every `interval_seconds`) writes one
// summary line per kind: "... 4,987 more connections closed at the login
// deadline in the last 10 s". Events counted with flood_from() are summarised
// per source address too, one line per busiest address, so fail2ban still sees
// where a storm comes from. The counters belong to the reactor thread.
#pragma once

#include "log.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace confab::log {

enum class Flood : std::uint8_t {
    refused_connection, // max_connections or per-address limits
    login_deadline,     // closed without logging in
    failed_login,       // wrong password or unknown name
    locked_name,        // a name locked after too many failures
    dropped_client,     // protocol errors and slow readers
    cluster_error,      // failed Redis writes, undecodable cluster messages
    count_
};
inline constexpr int interval_seconds = 10;
inline constexpr std::uint32_t lines_per_interval = 20;
// flood_from(): the summary names at most this many addresses (the busiest), then
// one line for all the others; at most `tracked_addresses` are told apart per interval.
inline constexpr std::size_t summary_addresses = 20;
inline constexpr std::size_t tracked_addresses = 1024;

// True if one more line of `kind` may be written now; otherwise it is counted.
bool admit(Flood kind) noexcept;
// The same, counting a suppressed event for `address` as well.
bool admit_from(Flood kind, std::string_view address) noexcept;
// One line per kind with suppressed events since the last call (per address:
// up to summary_addresses + 1 lines); resets the interval.
void summarize_floods() noexcept;

template <class... A>
void flood(Flood kind, Level l, fmt::format_string<A...> f, A&&... a) {
    if (level() >= l && admit(kind)) write(l, fmt::format(f, std::forward<A>(a)...));
}

// flood() for an event caused by a peer at `address` (a host, no port).
template <class... A>
void flood_from(Flood kind, std::string_view address, Level l, fmt::format_string<A...> f, A&&... a) {
    if (level() >= l && admit_from(kind, address)) write(l, fmt::format(f, std::forward<A>(a)...));
}

} // namespace confab::log
