// What the client remembers about a request until its reply arrives: the
// reply carries only the request id, but the output line needs the command.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace confab::cli {

enum class RequestKind : std::uint8_t {
    login,
    send_message,
    broadcast,
    who_else,
    who_else_since, // interactive: the reply is a UserSeenList, `target` the seconds
    login_who,      // interactive: who is online, asked at login
    list_blocks,
    block,
    unblock,
    logout,
    start_private,
    stop_private,
    private_listen,
};

struct PendingRequest {
    PendingRequest(RequestKind k, std::string who = {}, bool closed = false)
        : kind(k), target(std::move(who)), closed_locally(closed) {}

    RequestKind kind;
    std::string target; // the user the command names, if any
    // stop_private only: the chat was already closed and announced locally,
    // so the server having nothing to forget is not worth an error line.
    bool closed_locally = false;
};

} // namespace confab::cli
