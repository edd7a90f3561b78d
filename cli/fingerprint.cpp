#include "cli/fingerprint.hpp"

namespace confab::cli {
namespace {

constexpr std::string_view base64_digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<Fingerprint> parse_hex(std::string_view text) {
    std::string digits;
    if (text.size() == 32 * 3 - 1) { // "AB:CD:...": a colon after every byte pair
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (i % 3 == 2) {
                if (text[i] != ':') return std::nullopt;
            } else {
                digits += text[i];
            }
        }
    } else {
        digits = text;
    }
    if (digits.size() != 64) return std::nullopt;
    Fingerprint fp{};
    for (std::size_t i = 0; i < fp.size(); ++i) {
        int high = hex_value(digits[2 * i]), low = hex_value(digits[2 * i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        fp[i] = std::uint8_t(high * 16 + low);
    }
    return fp;
}

std::optional<Fingerprint> parse_base64(std::string_view text) {
    if (text.size() == 44 && text.back() == '=') text.remove_suffix(1);
    if (text.size() != 43) return std::nullopt;
    Fingerprint fp{};
    std::uint32_t bits = 0;
    int held = 0;
    std::size_t out = 0;
    for (char c : text) {
        auto value = base64_digits.find(c);
        if (value == std::string_view::npos) return std::nullopt;
        bits = (bits << 6) | std::uint32_t(value);
        held += 6;
        if (held >= 8) {
            held -= 8;
            fp[out++] = std::uint8_t(bits >> held);
        }
    }
    if ((bits & ((1u << held) - 1)) != 0) return std::nullopt; // 43 digits carry 2 unused bits: zero
    return fp;
}

} // namespace

std::string format_fingerprint(const Fingerprint& fp) {
    std::string out = "SHA256:";
    std::uint32_t bits = 0;
    int held = 0;
    for (std::uint8_t b : fp) {
        bits = (bits << 8) | b;
        held += 8;
        while (held >= 6) {
            held -= 6;
            out += base64_digits[(bits >> held) & 63];
        }
    }
    if (held > 0) out += base64_digits[(bits << (6 - held)) & 63];
    return out;
}

std::optional<Fingerprint> parse_fingerprint(std::string_view text) {
    constexpr std::string_view prefix = "sha256:";
    if (text.size() >= prefix.size()) {
        bool has_prefix = true;
        for (std::size_t i = 0; i < prefix.size(); ++i)
            if ((text[i] | 0x20) != prefix[i]) has_prefix = false;
        if (has_prefix) text.remove_prefix(prefix.size());
    }
    if (auto fp = parse_hex(text)) return fp;
    return parse_base64(text);
}

} // namespace confab::cli
