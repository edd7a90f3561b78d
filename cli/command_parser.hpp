// Turns one line of user input into a Command, or says why it is not one.
// Pure (no I/O), so every rule can be unit-tested; whatever passes here is
// what the client sends, so the server never sees a malformed request from us.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace confab::cli {

namespace cmd {
struct Message {
    std::string to, text;
};
struct Broadcast {
    std::string text;
};
struct WhoElse {};
struct WhoElseSince {
    std::uint32_t seconds = 0;
};
struct Block {
    std::string user;
};
struct Unblock {
    std::string user;
};
struct Logout {};
struct StartPrivate {
    std::string user;
};
struct Private {
    std::string user, text;
};
struct StopPrivate {
    std::string user;
};
struct Help {};
struct Blocks {};
} // namespace cmd

using Command = std::variant<cmd::Message, cmd::Broadcast, cmd::WhoElse, cmd::WhoElseSince, cmd::Block, cmd::Unblock,
                             cmd::Logout, cmd::StartPrivate, cmd::Private, cmd::StopPrivate, cmd::Help, cmd::Blocks>;

// A command, or an `error: ...` line to show instead; neither for a blank line.
struct ParsedLine {
    std::optional<Command> command;
    std::string error;
};

ParsedLine parse_command(std::string_view line);

// Why `text` cannot be sent (an `error: ...` line), or nothing if it can.
std::optional<std::string> text_problem(std::string_view text);

// Every command name (not the aliases), for completion and near-miss hints.
std::span<const std::string_view> command_names() noexcept;
// The command a typed word means: a leading '/' and the case do not matter,
// and msg, quit, exit and ? are aliases. Empty if it is no command.
std::string_view canonical_command(std::string_view word) noexcept;
// Whether the command named by `word` takes a user name as first argument.
bool command_takes_user(std::string_view word) noexcept;
// The command name closest to an unknown `word`, if one is close enough to be a typo.
std::optional<std::string_view> near_miss(std::string_view word) noexcept;

// The command list shown by `help` and `--help`, one command per line.
std::string_view command_help() noexcept;

} // namespace confab::cli
