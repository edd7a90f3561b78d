#include "names.hpp"

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

} // namespace confab::proto
