// How a peer's address and port are written in log lines and for confabctl:
// 192.0.2.7:40000 and [2001:db8::1]:40000 (an IPv6 address in brackets, so
// the port stays unambiguous; fail2ban's filter relies on this form).
// IPv4 clients of a dual-stack listener arrive already unmapped (net/peer_endpoint).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace confab {

inline std::string endpoint_string(std::string_view host, std::uint16_t port) {
    if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

} // namespace confab
