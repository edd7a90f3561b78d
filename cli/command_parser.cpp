#include "cli/command_parser.hpp"

#include "proto/limits.hpp"
#include "proto/names.hpp"
#include "proto/parse_number.hpp"
#include "proto/wire.hpp"

#include <fmt/format.h>

#include "cli/text_split.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

namespace confab::cli {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

// Removes the first word from `rest` together with the blanks around it, so
// that what remains is exactly the rest of the line (the text argument).
std::string_view take_word(std::string_view& rest) {
    std::size_t begin = 0;
    while (begin < rest.size() && is_blank(rest[begin])) ++begin;
    std::size_t end = begin;
    while (end < rest.size() && !is_blank(rest[end])) ++end;
    std::string_view word = rest.substr(begin, end - begin);
    while (end < rest.size() && is_blank(rest[end])) ++end;
    rest.remove_prefix(end);
    return word;
}

std::string usage(std::string_view synopsis) {
    return fmt::format("error: usage: {}", synopsis);
}

std::optional<std::string> name_problem(std::string_view name) {
    if (proto::is_valid_user_name(name)) return std::nullopt;
    return fmt::format("error: invalid user name '{}' ({})", name, proto::user_name_rule);
}

// Any whole number of seconds; more than the protocol carries means "ever".
std::optional<std::uint32_t> parse_seconds(std::string_view s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    // All digits: a number past uint32 is out of parse_number's range, and means "ever".
    return parse_number<std::uint32_t>(s).value_or(std::numeric_limits<std::uint32_t>::max());
}

constexpr std::array<std::string_view, 12> names = {
    "message", "broadcast",    "whoelse", "whoelsesince", "block",  "unblock",
    "blocks",  "startprivate", "private", "stopprivate",  "logout", "help",
};

// Levenshtein distance, for words of command length.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

// Shapes of argument lists; each command uses one.
ParsedLine no_args(std::string_view rest, std::string_view synopsis, Command c) {
    if (!rest.empty()) return {std::nullopt, usage(synopsis)};
    return {std::move(c), {}};
}

template <class C>
ParsedLine user_arg(std::string_view rest, std::string_view synopsis) {
    std::string_view user = take_word(rest);
    if (user.empty() || !rest.empty()) return {std::nullopt, usage(synopsis)};
    if (auto problem = name_problem(user)) return {std::nullopt, *problem};
    return {C{std::string(user)}, {}};
}

template <class C>
ParsedLine user_and_text(std::string_view rest, std::string_view synopsis) {
    std::string_view user = take_word(rest);
    if (user.empty() || rest.empty()) return {std::nullopt, usage(synopsis)};
    if (auto problem = name_problem(user)) return {std::nullopt, *problem};
    if (auto problem = text_problem(rest)) return {std::nullopt, *problem};
    return {C{std::string(user), std::string(rest)}, {}};
}

} // namespace

std::span<const std::string_view> command_names() noexcept {
    return names;
}

std::string_view canonical_command(std::string_view word) noexcept {
    if (word.starts_with('/')) word.remove_prefix(1);
    if (word.empty() || word.size() > 16) return {};
    char lower[16];
    for (std::size_t i = 0; i < word.size(); ++i) lower[i] = char(std::tolower(static_cast<unsigned char>(word[i])));
    std::string_view w(lower, word.size());
    if (w == "msg") return "message";
    if (w == "quit" || w == "exit") return "logout";
    if (w == "?") return "help";
    for (std::string_view n : names)
        if (n == w) return n; // the static name, not the local buffer
    return {};
}

bool command_takes_user(std::string_view word) noexcept {
    std::string_view c = canonical_command(word);
    return c == "message" || c == "block" || c == "unblock" || c == "startprivate" || c == "private" ||
           c == "stopprivate";
}

std::optional<std::string_view> near_miss(std::string_view word) noexcept {
    if (word.starts_with('/')) word.remove_prefix(1);
    if (word.size() < 3 || word.size() > 20) return std::nullopt;
    std::string lower(word);
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::optional<std::string_view> best;
    std::size_t best_distance = 3; // at most two edits, and fewer than half the word
    for (std::string_view n : names) {
        std::size_t d = edit_distance(lower, n);
        if (d < best_distance && d * 2 < word.size()) {
            best = n;
            best_distance = d;
        }
    }
    return best;
}

std::optional<std::string> text_problem(std::string_view text) {
    if (text.empty()) return "error: the text is empty";
    // Longer texts go out as several messages (split_text), up to a bound.
    constexpr std::size_t most = max_text_parts * proto::max_text_length;
    if (text.size() > most) return fmt::format("error: the text is too long ({} bytes, at most {})", text.size(), most);
    if (!proto::is_valid_utf8(text)) return "error: the text is not valid UTF-8";
    return std::nullopt;
}

ParsedLine parse_command(std::string_view line) {
    std::string_view rest = line;
    std::string_view typed = take_word(rest);
    if (typed.empty()) return {};
    std::string_view name = canonical_command(typed);

    if (name == "message") return user_and_text<cmd::Message>(rest, "message <user> <text>");
    if (name == "broadcast") {
        if (rest.empty()) return {std::nullopt, usage("broadcast <text>")};
        if (auto problem = text_problem(rest)) return {std::nullopt, *problem};
        return {cmd::Broadcast{std::string(rest)}, {}};
    }
    if (name == "whoelse") return no_args(rest, "whoelse", cmd::WhoElse{});
    if (name == "whoelsesince") {
        std::string_view arg = take_word(rest);
        auto seconds = parse_seconds(arg);
        if (!seconds || !rest.empty())
            return {std::nullopt, usage("whoelsesince <seconds> (a whole number of seconds, 0 or more)")};
        return {cmd::WhoElseSince{*seconds}, {}};
    }
    if (name == "block") return user_arg<cmd::Block>(rest, "block <user>");
    if (name == "unblock") return user_arg<cmd::Unblock>(rest, "unblock <user>");
    if (name == "logout") return no_args(rest, "logout", cmd::Logout{});
    if (name == "startprivate") return user_arg<cmd::StartPrivate>(rest, "startprivate <user>");
    if (name == "private") return user_and_text<cmd::Private>(rest, "private <user> <text>");
    if (name == "stopprivate") return user_arg<cmd::StopPrivate>(rest, "stopprivate <user>");
    if (name == "help") return no_args(rest, "help", cmd::Help{});
    if (name == "blocks") return no_args(rest, "blocks", cmd::Blocks{});
    if (auto guess = near_miss(typed))
        return {std::nullopt, fmt::format("error: unknown command '{}' (did you mean '{}'?)", typed, *guess)};
    return {std::nullopt, fmt::format("error: unknown command '{}' (type 'help' for the list of commands)", typed)};
}

std::string_view command_help() noexcept {
    return "message <user> <text>    send a message (kept for later if <user> is offline)\n"
           "broadcast <text>         send a message to everyone online\n"
           "whoelse                  list the other users online\n"
           "whoelsesince <seconds>   list the users online in the last <seconds>\n"
           "block <user>             stop receiving messages from <user>\n"
           "unblock <user>           receive messages from <user> again\n"
           "blocks                   list the users you have blocked\n"
           "startprivate <user>      open a direct private chat with <user>\n"
           "private <user> <text>    send text over the private chat with <user>\n"
           "stopprivate <user>       close the private chat with <user>\n"
           "logout                   log out and quit (also: quit, exit)\n"
           "help                     show this list (also: ?)\n"
           "Commands may be typed with a leading '/' and in any case; msg is message.\n";
}

} // namespace confab::cli
