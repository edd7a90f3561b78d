#include "wire.hpp"

namespace confab::proto {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
std::optional<Utf8Char> decode_utf8_char(std::string_view s) noexcept {
    if (s.empty()) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    unsigned char c = p[0];
    if (c < 0x80) return Utf8Char{c, 1};
    std::size_t n;
    char32_t cp;
    if ((c & 0xE0) == 0xC0) {
        n = 1;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 2;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 3;
        cp = c & 0x07;
    } else
        return std::nullopt;
    if (s.size() <= n) return std::nullopt;
    for (std::size_t i = 1; i <= n; ++i) {
        if ((p[i] & 0xC0) != 0x80) return std::nullopt;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static constexpr char32_t min_for_len[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    return Utf8Char{cp, n + 1};
}

bool is_valid_utf8(std::string_view s) noexcept {
    while (!s.empty()) {
        if (static_cast<unsigned char>(s[0]) < 0x80) { // ASCII, most of any text: no call
            s.remove_prefix(1);
            continue;
        }
        auto c = decode_utf8_char(s);
        if (!c) return false;
        s.remove_prefix(c->size);
    }
    return true;
}

std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept {
    if (s.size() <= max_bytes) return s;
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut; // s[cut] starts the next character
    return s.substr(0, cut);
}

} // namespace confab::proto
