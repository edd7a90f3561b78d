#include "core/address_limits.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace confab {

std::string AddressLimits::key_of(std::string_view address) {
    if (address.find(':') == std::string_view::npos) return std::string(address);
    in6_addr a{};
    if (inet_pton(AF_INET6, std::string(address).c_str(), &a) != 1) return std::string(address);
    for (int i = 8; i < 16; ++i) a.s6_addr[i] = 0;
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
    return std::string(buf) + "/64";
}

AddressLimits::Map::iterator AddressLimits::touch(std::string_view address) {
    std::string key = key_of(address);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        make_room();
        it = entries_.emplace(std::move(key), Entry{}).first;
        it->second.idle_pos = idle_.insert(idle_.end(), &it->first);
    } else if (it->second.unauthenticated == 0) {
        idle_.splice(idle_.end(), idle_, it->second.idle_pos); // most recently used last
    }
    return it;
}

void AddressLimits::make_room() {
    // Forgetting an idle address only forgets its rate history: at worst it
    // gets a fresh allowance. Addresses with strangers connected are never dropped.
    while (entries_.size() >= max_tracked_ && !idle_.empty()) {
        const std::string* oldest = idle_.front();
        idle_.pop_front();
        entries_.erase(*oldest);
    }
}

AddressLimits::Decision AddressLimits::admit(std::string_view address, TimePoint now) {
    if (settings_.max_unauthenticated && unauthenticated_ >= settings_.max_unauthenticated)
        return {Admission::server_busy, 0};
    Entry& e = touch(address)->second;
    if (settings_.max_unauthenticated_per_address && e.unauthenticated >= settings_.max_unauthenticated_per_address)
        return {Admission::address_busy, 0};
    if (std::int64_t wait = e.connects.take(settings_.connects, 1, now)) return {Admission::too_fast, wait};
    return {Admission::ok, 0};
}

void AddressLimits::opened(std::string_view address) {
    Entry& e = touch(address)->second;
    if (e.unauthenticated++ == 0) idle_.erase(e.idle_pos);
    ++unauthenticated_;
}

void AddressLimits::closed_unauthenticated(std::string_view address) {
    auto it = entries_.find(key_of(address));
    if (it == entries_.end() || it->second.unauthenticated == 0) return;
    --unauthenticated_;
    if (--it->second.unauthenticated == 0) it->second.idle_pos = idle_.insert(idle_.end(), &it->first);
}

void AddressLimits::authenticated(std::string_view address) {
    closed_unauthenticated(address);
}

std::int64_t AddressLimits::failures_wait_ms(std::string_view address, TimePoint now) {
    if (settings_.failed_logins.unlimited()) return 0;
    return touch(address)->second.failures.wait_ms(settings_.failed_logins, 1, now);
}

void AddressLimits::record_failure(std::string_view address, TimePoint now) {
    if (settings_.failed_logins.unlimited()) return;
    touch(address)->second.failures.take(settings_.failed_logins, 1, now);
}

} // namespace confab
