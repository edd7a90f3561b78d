#include "cli/completion.hpp"

#include "cli/command_parser.hpp"
#include "proto/names.hpp"

namespace confab::cli {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

} // namespace

void KnownNames::add(std::string_view name) {
    if (names_.size() >= max_names || !proto::is_valid_user_name(name)) return;
    names_.emplace(name);
}

std::vector<std::string> completions(std::string_view before_cursor, const KnownNames& names) {
    // Split into the words before the one being completed, and that one.
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < before_cursor.size()) {
        while (i < before_cursor.size() && is_blank(before_cursor[i])) ++i;
        std::size_t start = i;
        while (i < before_cursor.size() && !is_blank(before_cursor[i])) ++i;
        if (i > start) words.push_back(before_cursor.substr(start, i - start));
    }
    bool new_word = before_cursor.empty() || is_blank(before_cursor.back());
    std::string_view partial = new_word || words.empty() ? std::string_view{} : words.back();
    if (!new_word && !words.empty()) words.pop_back();

    std::vector<std::string> out;
    if (words.empty()) { // the command word; a leading '/' is kept
        bool slash = partial.starts_with('/');
        std::string_view bare = slash ? partial.substr(1) : partial;
        for (std::string_view c : command_names())
            if (c.starts_with(bare)) out.push_back((slash ? "/" : "") + std::string(c));
        return out;
    }
    if (words.size() == 1 && command_takes_user(words[0]))
        for (const auto& n : names.all())
            if (n.starts_with(partial)) out.push_back(n);
    return out;
}

} // namespace confab::cli
