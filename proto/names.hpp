// The protocol's rules for user names and listener hosts (PROTOCOL.md §9),
// shared by the daemon (logins, commands, the users file) and the client
// (arguments, peers).
#pragma once

#include "limits.hpp"

#include <string_view>

namespace confab::proto {

// 1..max_name_length bytes of [A-Za-z0-9_.-], case-sensitive.
bool is_valid_user_name(std::string_view name) noexcept;

// A private-chat listener host (PrivateListen, PrivateIntro): an IPv4 or IPv6
// literal, so a peer dials it without a (blocking) name lookup.
bool is_ip_literal(std::string_view host);

// The rule in words, for error messages.
inline constexpr std::string_view user_name_rule = "1-32 letters, digits, '_', '.' or '-'";
static_assert(max_name_length == 32, "user_name_rule spells the length out");

} // namespace confab::proto
