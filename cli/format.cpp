#include "cli/format.hpp"

#include "proto/wire.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace confab::cli {
namespace {

std::string plural(std::uint32_t n, std::string_view word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// A listing as long as the server's cap (proto::max_listed_names) may have
// been cut: more users matched than one reply holds.
bool may_be_cut(std::size_t names) {
    return names >= proto::max_listed_names;
}
std::string count_of(std::size_t names) {
    return may_be_cut(names) ? fmt::format("{} shown; one reply lists no more", names) : std::to_string(names);
}

// Invisible format characters that can disguise a name or reorder a line on
// screen: bidi embeddings, overrides and isolates, zero-width characters,
// line and paragraph separators, the byte order mark, the Arabic letter mark,
// the soft hyphen and the invisible operators.
bool is_spoofing_character(char32_t c) {
    return c == 0x00AD || c == 0x061C || (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
           (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF;
}

} // namespace

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 && c != '\t') {
            out += '^';
            out += char(c + 0x40);
            ++i;
            continue;
        }
        if (c == 0x7f) {
            out += "^?";
            ++i;
            continue;
        }
        auto ch = proto::decode_utf8_char(text.substr(i));
        if (!ch) { // one byte of invalid UTF-8: shown as U+FFFD, so what follows it is read afresh
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        char32_t cp = ch->code_point;
        if (cp >= 0x80 && cp <= 0x9F) { // C1 controls, which some terminals obey like ESC
            out += '?';
        } else if (is_spoofing_character(cp)) {
            out += fmt::format("<U+{:04X}>", std::uint32_t(cp)); // visible, and inert
        } else {
            out.append(text.substr(i, ch->size));
        }
        i += ch->size;
    }
    return out;
}

std::string format_timestamp(std::uint64_t unix_ms) {
    try {
        return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(static_cast<std::time_t>(unix_ms / 1000)));
    } catch (const fmt::format_error&) { return "unknown time"; } // beyond what the local calendar can say
}

std::string format_message(const proto::MessageEvent& m) {
    if (m.flags & proto::message_flag_offline)
        return fmt::format("{} (offline, sent {}): {}", printable(m.from), format_timestamp(m.sent_at_ms),
                           printable(m.text));
    return fmt::format("{}: {}", printable(m.from), printable(m.text));
}

std::string format_broadcast(const proto::BroadcastEvent& b) {
    return fmt::format("{} (broadcast): {}", printable(b.from), printable(b.text));
}

std::string format_server_notice(const proto::ServerNotice& n) {
    return fmt::format("announcement from the server: {}", printable(n.text));
}

std::string format_presence(const proto::PresenceEvent& p) {
    return fmt::format("{} logged {}", printable(p.user), p.kind == proto::PresenceKind::logout ? "out" : "in");
}

std::string format_private_text(std::string_view peer, std::string_view text) {
    return fmt::format("{} (private): {}", printable(peer), printable(text));
}

std::vector<std::string> format_user_list(const proto::UserList& list) {
    if (list.names.empty()) return {"no other users"};
    std::vector<std::string> lines;
    lines.reserve(list.names.size());
    for (auto name : list.names) lines.push_back(printable(name));
    return lines;
}

std::vector<std::string> format_user_block(const proto::UserList& list) {
    if (list.names.empty()) return {"no other users"};
    std::vector<std::string> lines{fmt::format("online now ({}):", count_of(list.names.size()))};
    for (auto name : list.names) lines.push_back(fmt::format("  {}", printable(name)));
    return lines;
}

std::vector<std::string> format_seen_block(const proto::UserSeenList& list, std::uint32_t seconds, std::time_t now) {
    if (list.names.empty()) return {"no other users"};
    std::vector<std::string> lines{
        fmt::format("online in the last {} ({}):", plural(seconds, "second"), count_of(list.names.size()))};
    std::size_t width = 0;
    for (auto name : list.names) width = std::max(width, name.size());
    std::tm today{};
    localtime_r(&now, &today);
    for (std::size_t i = 0; i < list.names.size(); ++i) {
        std::uint32_t ago = i < list.offline_for_s.size() ? list.offline_for_s[i] : 0;
        std::string state = "online";
        if (ago > 0) {
            std::time_t left = now - std::time_t(ago);
            std::tm tm{};
            localtime_r(&left, &tm);
            bool same_day = tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday;
            char buf[32];
            std::strftime(buf, sizeof buf, same_day ? "%H:%M" : "%Y-%m-%d %H:%M", &tm);
            state = fmt::format("offline since {}", buf);
        }
        lines.push_back(fmt::format("  {:<{}}  {}", printable(list.names[i]), width, state));
    }
    return lines;
}

std::string format_online_line(const proto::UserList& list) {
    if (list.names.empty()) return "online: nobody else";
    std::string line = "online:";
    for (std::size_t i = 0; i < list.names.size(); ++i) line += (i ? ", " : " ") + printable(list.names[i]);
    if (may_be_cut(list.names.size())) line += fmt::format(" (the first {} by name)", list.names.size());
    return line;
}

std::vector<std::string> format_block_list(const proto::UserList& list) {
    if (list.names.empty()) return {"you have not blocked anyone"};
    std::vector<std::string> lines{
        may_be_cut(list.names.size()) ? fmt::format("blocked ({}):", count_of(list.names.size())) : "blocked:"};
    for (auto name : list.names) lines.push_back(fmt::format("  {}", printable(name)));
    return lines;
}

std::string format_error(proto::Status code, std::string_view detail) {
    return fmt::format("error: {}", detail.empty() ? proto::to_string(code) : printable(detail));
}

std::optional<std::string> format_result(const PendingRequest& request, const proto::Result& r) {
    if (!proto::is_success(r.code)) {
        if (request.kind == RequestKind::stop_private && request.closed_locally &&
            r.code == proto::Status::no_private_session)
            return std::nullopt;
        if (request.kind == RequestKind::private_listen)
            return fmt::format("error: private chat unavailable: {}",
                               r.detail.empty() ? proto::to_string(r.code) : printable(r.detail));
        return format_error(r.code, r.detail);
    }
    switch (request.kind) {
    case RequestKind::send_message:
        if (r.code == proto::Status::ok_stored)
            return fmt::format("message to {} stored for delivery at next login", printable(request.target));
        return std::nullopt;
    case RequestKind::broadcast:
        if (r.code == proto::Status::ok_partial) // the server says who was missed (blockers, or other servers)
            return r.detail.empty() ? "your message could not be delivered to some recipients" : printable(r.detail);
        return std::nullopt;
    case RequestKind::block: return fmt::format("{} is blocked", printable(request.target));
    case RequestKind::unblock: return fmt::format("{} is unblocked", printable(request.target));
    default: return std::nullopt;
    }
}

std::string format_login_refusal(const proto::LoginResult& r, std::string_view name) {
    switch (r.outcome) {
    case proto::LoginOutcome::wrong_password:
    case proto::LoginOutcome::unknown_user:
        if (r.value == 0) return "error: wrong password (no attempts left)";
        return fmt::format("error: wrong password ({} left)", plural(r.value, "attempt"));
    case proto::LoginOutcome::locked:
        if (r.value == proto::lock_until_unlocked) return "error: account locked by the administrator";
        return fmt::format("error: account locked, try again in {}", plural(r.value, "second"));
    case proto::LoginOutcome::already_logged_in: return fmt::format("error: {} is already logged in", printable(name));
    case proto::LoginOutcome::unavailable: return "error: the server cannot log you in right now, try again later";
    case proto::LoginOutcome::too_many_attempts:
        return fmt::format("error: too many attempts from your address, retry in {}", plural(r.value, "second"));
    case proto::LoginOutcome::ok: break;
    }
    return fmt::format("error: login refused (outcome {})", static_cast<int>(r.outcome));
}

std::string format_session_end(const proto::SessionEnded& e) {
    if (e.reason == proto::EndReason::logged_out) return "logged out";
    std::string_view fallback = "the server is shutting down";
    if (e.reason == proto::EndReason::timed_out) fallback = "timed out after inactivity";
    if (e.reason == proto::EndReason::kicked) fallback = "removed by the administrator";
    if (e.reason == proto::EndReason::locked) fallback = "your account was locked by the administrator";
    if (e.reason == proto::EndReason::account_removed) fallback = "your account was removed by the administrator";
    return fmt::format("logged out: {}", e.detail.empty() ? fallback : printable(e.detail));
}

std::string format_idle_warning(const proto::IdleWarning& w) {
    return fmt::format("you will be logged out for inactivity in {} unless you type a command",
                       plural(w.seconds_left, "second"));
}

std::string welcome_line(std::string_view name) {
    return fmt::format("welcome, {}", printable(name));
}

std::string private_started_line(std::string_view peer) {
    return fmt::format("private chat with {} started", printable(peer));
}

std::string private_ended_line(std::string_view peer) {
    return fmt::format("private chat with {} ended", printable(peer));
}

std::string private_invite_expired_line(std::string_view peer, std::int64_t seconds) {
    return fmt::format("private chat invitation from {} expired (not used within {} s)", printable(peer), seconds);
}

} // namespace confab::cli
