#include "net/peer_endpoint.hpp"

#include "core/endpoint.hpp"

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

std::string peer_endpoint(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    PeerAddress p = peer_address(ss);
    if (p.host == "?") return "?";
    return endpoint_string(p.host, p.port);
}

} // namespace confab
