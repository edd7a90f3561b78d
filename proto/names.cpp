#include "names.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

namespace confab::proto {

bool is_valid_user_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_name_length) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  c == '-';
        if (!ok) return false;
    }
    return true;
}

bool is_ip_literal(std::string_view host) {
    if (host.size() >= INET6_ADDRSTRLEN || host.find('\0') != std::string_view::npos) return false;
    std::string text(host);
    in6_addr buf{};
    return inet_pton(AF_INET, text.c_str(), &buf) == 1 || inet_pton(AF_INET6, text.c_str(), &buf) == 1;
}

} // namespace confab::proto
