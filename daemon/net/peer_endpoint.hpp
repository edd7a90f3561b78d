// The address and port of an accepted connection's peer as the daemon reports them:
// an IPv4 client of a dual-stack listener as IPv4 (no ::ffff:), so limits per
// address and log lines treat it like any IPv4 client. The written form is
// core/endpoint's: 192.0.2.7:40000, [2001:db8::1]:40000, "?" if unknown.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace confab {

struct PeerAddress {
    std::string host = "?"; // numeric IPv4 or IPv6 address
    std::uint16_t port = 0;
};

PeerAddress peer_address(const sockaddr_storage& ss);

} // namespace confab
