#include "net/peer_endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace confab {

PeerAddress peer_address(const sockaddr_storage& ss) {
    PeerAddress out;
    char buf[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
        inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
        out.port = ntohs(a.sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
        if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr))
            inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], buf, sizeof buf);
        else
            inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
        out.port = ntohs(a.sin6_port);
    } else {
        return out;
    }
    out.host = buf;
    return out;
}

} // namespace confab
