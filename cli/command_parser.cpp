#include "cli/command_parser.hpp"

#include "proto/limits.hpp"
#include "proto/names.hpp"
#include "proto/wire.hpp"

#include <fmt/format.h>

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

std::optional<std::uint32_t> parse_seconds(std::string_view s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + std::uint64_t(c - '0');
    }
    if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return std::uint32_t(value);
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

std::optional<std::string> text_problem(std::string_view text) {
    if (text.empty()) return "error: the text is empty";
    if (text.size() > proto::max_text_length)
        return fmt::format("error: the text is too long ({} bytes, at most {})", text.size(), proto::max_text_length);
    if (!proto::is_valid_utf8(text)) return "error: the text is not valid UTF-8";
    return std::nullopt;
}

ParsedLine parse_command(std::string_view line) {
    std::string_view rest = line;
    std::string_view name = take_word(rest);
    if (name.empty()) return {};

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
    return {std::nullopt, fmt::format("error: unknown command '{}' (type 'help' for the list of commands)", name)};
}

std::string_view command_help() noexcept {
    return "message <user> <text>    send a message (kept for later if <user> is offline)\n"
           "broadcast <text>         send a message to everyone online\n"
           "whoelse                  list the other users online\n"
           "whoelsesince <seconds>   list the users online in the last <seconds>\n"
           "block <user>             stop receiving messages from <user>\n"
           "unblock <user>           receive messages from <user> again\n"
           "startprivate <user>      open a direct private chat with <user>\n"
           "private <user> <text>    send text over the private chat with <user>\n"
           "stopprivate <user>       close the private chat with <user>\n"
           "logout                   log out and quit\n"
           "help                     show this list\n";
}

} // namespace confab::cli
