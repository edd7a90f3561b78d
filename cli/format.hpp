// Server and peer events -> the exact output lines confab(1) OUTPUT documents
// (scripts parse them). Pure functions (apart from the local time zone),
// unit-tested line by line.
#pragma once

#include "cli/pending_request.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::cli {

// Replaces control characters with visible stand-ins (^[, ^J, ?) and
// invisible format characters (bidi overrides and isolates, zero-width
// characters, U+2028/2029, U+FEFF, ...) with <U+XXXX>, so text from other
// users can neither drive the terminal, break line framing, nor disguise a
// name or reorder what is shown. Each byte of invalid UTF-8 is shown as
// U+FFFD, so the output is always valid UTF-8.
// Every line below shows each string it is given through printable(), names
// included: a peer's name comes from the server, which may be hostile too.
std::string printable(std::string_view text);

// "YYYY-MM-DD HH:MM:SS" in the local time zone.
std::string format_timestamp(std::uint64_t unix_ms);

std::string format_message(const proto::MessageEvent& m);
std::string format_broadcast(const proto::BroadcastEvent& b);
std::string format_presence(const proto::PresenceEvent& p);
// An administrator's announcement (confabctl wall).
std::string format_server_notice(const proto::ServerNotice& n);
std::string format_private_text(std::string_view peer, std::string_view text);
// ListBlocks: one name per line, or "you have not blocked anyone".
std::vector<std::string> format_block_list(const proto::UserList& list);
// Interactive output of whoelse: a header with the count, then one indented name per line.
std::vector<std::string> format_user_block(const proto::UserList& list);
// Interactive output of whoelsesince: who is online and who left when (local time;
// with the date when not today), under a header with the window and the count.
std::vector<std::string> format_seen_block(const proto::UserSeenList& list, std::uint32_t seconds, std::time_t now);
// The line shown at login: who else is online.
std::string format_online_line(const proto::UserList& list);
// One name per line, or a single "no other users".
std::vector<std::string> format_user_list(const proto::UserList& list);

std::string format_error(proto::Status code, std::string_view detail);
// The line a Result prints for the request it answers, if any.
std::optional<std::string> format_result(const PendingRequest& request, const proto::Result& r);
// Why a login was refused (outcome != ok), as an `error: ...` line.
std::string format_login_refusal(const proto::LoginResult& r, std::string_view name);
std::string format_session_end(const proto::SessionEnded& e);
std::string format_idle_warning(const proto::IdleWarning& w);

std::string welcome_line(std::string_view name);
std::string private_started_line(std::string_view peer);
std::string private_ended_line(std::string_view peer);
std::string private_invite_expired_line(std::string_view peer, std::int64_t seconds);

} // namespace confab::cli
