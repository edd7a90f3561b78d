// confabctl's subcommands: what every command gets (a Context) and the table
// they are listed in (command_table.cpp), which main() dispatches from and
// prints the usage of. A command that needs the daemon asks the Context for
// it; one that works on files alone never does.
#pragma once

#include "control_client.hpp"

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace confab::ctl {

// Exit statuses (confabctl(8)).
inline constexpr int exit_ok = 0;          // done
inline constexpr int exit_failed = 1;      // the command was refused (unknown user, ...)
inline constexpr int exit_usage = 2;       // bad command line
inline constexpr int exit_unreachable = 3; // no daemon at the socket, or it did not answer
inline constexpr int exit_denied = 4;      // not allowed to use the control socket

// A bad command line: main() prints it with the command's synopsis and exits exit_usage.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Context {
    std::string socket_path;
    std::string config_path; // --config FILE, or empty
    std::string users_file;  // --users-file FILE, or empty (then the configuration's)
    bool json = false;
    std::vector<std::string> args; // the words after the command's name

    // The daemon, connected on first use. Throws ControlError.
    ControlClient& daemon() {
        if (!client_) client_.emplace(socket_path);
        return *client_;
    }

private:
    std::optional<ControlClient> client_;
};

struct Command {
    std::string_view name;
    std::string_view synopsis; // e.g. "kick NAME [REASON]"
    std::string_view summary;  // one line for the usage text
    int (*run)(Context&);      // returns an exit status; may throw UsageError or ControlError
};

std::span<const Command> commands();
const Command* find_command(std::string_view name);

} // namespace confab::ctl
