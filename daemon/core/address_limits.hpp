// Per-source-address limits on strangers: how many connections one address
// may have open before logging in, how fast it may connect, and how many
// wrong passwords it may send. One host must never take every slot or keep
// accounts locked at will, and an office behind one NAT address must still
// fit (the defaults are generous; every limit can be turned off with 0).
//
// IPv6 addresses count by /64 (one host usually owns a whole /64); IPv4 by
// address. Memory is bounded: addresses with nothing open and nothing left to
// remember are forgotten oldest first, in O(1). Pure: times are passed in.
#pragma once

#include "core/clock.hpp"
#include "core/token_bucket.hpp"

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace confab {

struct AddressLimitSettings {
    std::size_t max_unauthenticated_per_address = 64; // 0: no limit
    std::size_t max_unauthenticated = 4096;           // all addresses together; 0: no limit
    Rate connects;                                    // new connections per address
    Rate failed_logins;                               // wrong passwords per address
};

class AddressLimits {
public:
    explicit AddressLimits(AddressLimitSettings s = {}, std::size_t max_tracked = 65'536)
        : settings_(s), max_tracked_(max_tracked) {}
    void update_settings(const AddressLimitSettings& s) { settings_ = s; }

    // The key an address is counted under ("2001:db8:1:2::/64" for IPv6).
    static std::string key_of(std::string_view address);
    // No key of a peer's address is longer: an IPv6 address's longest text (INET6_ADDRSTRLEN - 1) and "/64".
    static constexpr std::size_t max_key_length = 45 + 3;

    enum class Admission : std::uint8_t { ok, address_busy, server_busy, too_fast };
    struct Decision {
        Admission verdict;
        std::int64_t retry_ms; // too_fast: when a connection would be accepted
    };
    // May `address` open one more connection? Counts the attempt (rate) when it may.
    Decision admit(std::string_view address, TimePoint now);
    // Bookkeeping of admitted connections that have not logged in.
    void opened(std::string_view address);
    void authenticated(std::string_view address); // logged in: no longer a stranger
    void closed_unauthenticated(std::string_view address);

    // Milliseconds until `address` may try a password again (0: now).
    std::int64_t failures_wait_ms(std::string_view address, TimePoint now);
    void record_failure(std::string_view address, TimePoint now);

    std::size_t unauthenticated() const noexcept { return unauthenticated_; }
    std::size_t tracked() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::size_t unauthenticated = 0;
        TokenBucket connects, failures;
        std::list<const std::string*>::iterator idle_pos; // valid while unauthenticated == 0
    };
    using Map = std::unordered_map<std::string, Entry>;
    Map::iterator touch(std::string_view address); // finds or creates; marks recently used
    void make_room();

    AddressLimitSettings settings_;
    std::size_t max_tracked_;
    Map entries_;
    // Entries with no open stranger connection, least recently used first: the
    // ones that may be forgotten. The pointers are the map's keys, which never move.
    std::list<const std::string*> idle_;
    std::size_t unauthenticated_ = 0;
};

} // namespace confab
