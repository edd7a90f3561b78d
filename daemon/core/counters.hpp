// What the chat rules count for the metrics (confabctl metrics, GET /metrics):
// plain integers bumped on the paths they describe, read by the renderer.
// Reactor thread only.
#pragma once

#include "proto/messages.hpp"

#include <array>
#include <cstdint>

namespace confab {

struct CoreCounters {
    static constexpr std::size_t login_outcomes = 7; // LoginOutcome values 0..6
    static constexpr std::size_t end_reasons = 6;    // EndReason values 1..5 (0 unused)

    std::array<std::uint64_t, login_outcomes> logins{};    // LoginResults sent, by outcome
    std::uint64_t lockouts = 0;                            // names locked after wrong passwords
    std::uint64_t admin_locks = 0;                         // confabctl lock
    std::uint64_t kicks = 0;                               // confabctl kick
    std::uint64_t messages_direct = 0;                     // direct messages delivered live
    std::uint64_t messages_stored = 0;                     // direct messages stored for an offline recipient
    std::uint64_t messages_offline_delivered = 0;          // stored messages handed to their recipient
    std::uint64_t broadcasts = 0;                          // broadcasts accepted
    std::uint64_t broadcast_deliveries = 0;                // their copies queued to recipients
    std::uint64_t notices = 0;                             // confabctl wall
    std::array<std::uint64_t, end_reasons> session_ends{}; // SessionEnded sent, by EndReason
    std::uint64_t protocol_errors = 0;                     // connections closed with a ProtocolError
    std::uint64_t login_timeouts = 0;                      // of which: no login before the deadline

    void count_login(proto::LoginOutcome o) noexcept {
        if (auto i = std::size_t(o); i < login_outcomes) ++logins[i];
    }
    void count_end(proto::EndReason r) noexcept {
        if (auto i = std::size_t(r); i < end_reasons) ++session_ends[i];
    }
};

} // namespace confab
