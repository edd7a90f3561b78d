#include "cli/text_split.hpp"

namespace confab::cli {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}
bool is_continuation(char c) {
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

} // namespace

std::vector<std::string_view> split_text(std::string_view text, std::size_t max_bytes) {
    std::vector<std::string_view> parts;
    if (max_bytes < 4) return parts; // no room for every UTF-8 character
    while (!text.empty()) {
        if (text.size() <= max_bytes) {
            parts.push_back(text);
            break;
        }
        // The cut is at `cut` (the first byte of the next part).
        std::size_t cut = max_bytes;
        while (cut > 0 && is_continuation(text[cut])) --cut; // never inside a character
        std::size_t blank = text.substr(0, cut + 1).find_last_of(" \t");
        std::size_t end = cut, next = cut;
        if (blank != std::string_view::npos && blank > 0) { // a word boundary: drop the blanks there
            end = blank;
            while (end > 0 && is_blank(text[end - 1])) --end;
            next = blank;
            if (end == 0) { // only blanks before it: cut the word instead
                end = cut;
                next = cut;
            }
        }
        parts.push_back(text.substr(0, end));
        text.remove_prefix(next);
        while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    }
    return parts;
}

} // namespace confab::cli
