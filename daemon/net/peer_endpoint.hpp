// The address and port a connected socket's peer has, as an administrator
// reads it: 192.0.2.7:40000, [2001:db8::1]:40000, and an IPv4 client of a
// dual-stack listener as IPv4 (no ::ffff:). "?" if the socket cannot say.
#pragma once

#include <string>

namespace confab {

std::string peer_endpoint(int fd);

} // namespace confab
