// Turns one line of user input into a Command, or says why it is not one.
// Pure (no I/O), so every rule can be unit-tested; whatever passes here is
// what the client sends, so the server never sees a malformed request from us.
#pragma once

#include <cstdint>
#include <optional>
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
} // namespace cmd

using Command = std::variant<cmd::Message, cmd::Broadcast, cmd::WhoElse, cmd::WhoElseSince, cmd::Block, cmd::Unblock,
                             cmd::Logout, cmd::StartPrivate, cmd::Private, cmd::StopPrivate, cmd::Help>;

// A command, or an `error: ...` line to show instead; neither for a blank line.
struct ParsedLine {
    std::optional<Command> command;
    std::string error;
};

ParsedLine parse_command(std::string_view line);

// Why `text` cannot be sent (an `error: ...` line), or nothing if it can.
std::optional<std::string> text_problem(std::string_view text);

// The command list shown by `help` and `--help`, one command per line.
std::string_view command_help() noexcept;

} // namespace confab::cli
