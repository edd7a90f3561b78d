// The protocol's whole vocabulary: one struct per message type, a variant
// over all of them, and encode/decode. PROTOCOL.md is the byte-level spec;
// the order of fields in each `fields()` below is the order on the wire.
//
// Decoded string fields are views into the payload they came from: copy
// what must outlive the frame buffer.
#pragma once

#include "errors.hpp"
#include "limits.hpp"
#include "wire.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

namespace confab::proto {

enum class MessageType : std::uint8_t {
    // client -> server
    hello = 0x01,
    login = 0x02,
    send_message = 0x03,
    broadcast = 0x04,
    who_else = 0x05,
    who_else_since = 0x06,
    block = 0x07,
    unblock = 0x08,
    logout = 0x09,
    start_private = 0x0A,
    stop_private = 0x0B,
    private_listen = 0x0C,
    ack_messages = 0x0D,
    private_activity = 0x0E,
    list_blocks = 0x0F,
    who_else_since_seen = 0x10,
    // control client (confabctl) -> server, on the control socket only
    control_status = 0x60,
    control_who = 0x61,
    control_kick = 0x62,
    control_lock = 0x63,
    control_unlock = 0x64,
    control_reload = 0x65,
    control_wall = 0x66,
    control_metrics = 0x67,
    // server -> client
    welcome = 0x80,
    login_result = 0x81,
    result = 0x82,
    user_list = 0x83,
    message_event = 0x84,
    broadcast_event = 0x85,
    presence_event = 0x86,
    session_ended = 0x87,
    private_intro = 0x88,
    private_invite = 0x89,
    private_revoked = 0x8A,
    idle_warning = 0x8B,
    user_seen_list = 0x8C,
    server_notice = 0x8D,
    // server -> control client (besides Result and ProtocolError)
    control_status_reply = 0xA0,
    control_who_reply = 0xA1,
    control_metrics_reply = 0xA2,
    protocol_error = 0xBF,
    // client <-> client (private chat)
    peer_hello = 0xC0,
    peer_welcome = 0xC1,
    peer_text = 0xC2,
    peer_bye = 0xC3,
};

enum class LoginOutcome : std::uint8_t {
    ok = 0,
    wrong_password = 1,    // value = attempts left before the name is locked
    locked = 2,            // value = seconds until the lock lifts
    already_logged_in = 3, // the name has a live session elsewhere
    unknown_user = 4,      // reserved: confabd answers wrong_password instead (see PROTOCOL.md)
    unavailable = 5,       // the server cannot check credentials now; retry later
    too_many_attempts = 6, // too many wrong passwords from this address; value = seconds to wait
};

enum class PresenceKind : std::uint8_t { login = 1, logout = 2 };

// Who may send or receive a message type (PROTOCOL.md §5): a user connection
// accepts only user requests, a control connection only control requests.
enum class MessageFamily : std::uint8_t { user_request, control_request, server_reply, control_reply, peer };
constexpr MessageFamily family_of(MessageType t) noexcept {
    const auto v = std::uint8_t(t);
    if (v < 0x60) return MessageFamily::user_request;
    if (v < 0x80) return MessageFamily::control_request;
    if (v < 0xA0) return MessageFamily::server_reply;
    if (v < 0xBF) return MessageFamily::control_reply;
    if (v == 0xBF) return MessageFamily::server_reply; // ProtocolError goes to either kind of client
    return MessageFamily::peer;
}

enum class EndReason : std::uint8_t {
    timed_out = 1,       // no command for `timeout` seconds
    server_shutdown = 2, // the daemon is stopping
    logged_out = 3,      // reply to the client's own Logout
    kicked = 4,          // an administrator ended the session (detail: the reason given)
    locked = 5,          // an administrator locked the account
    account_removed = 6, // the user was removed from the users file (a reload)
};

// ControlLock.seconds meaning "until unlocked"; LoginResult{locked}.value for such a lock.
inline constexpr std::uint32_t lock_until_unlocked = 0xFFFFFFFF;

enum class PeerByeReason : std::uint8_t { stopped = 1, logged_out = 2, blocked = 3 };

inline constexpr std::uint8_t message_flag_offline = 0x01; // MessageEvent.flags: stored while offline

// ---- client -> server ----
struct Hello {
    static constexpr auto type = MessageType::hello;
    std::uint16_t version = protocol_version;
    std::string_view client;
    auto fields() { return std::tie(version, client); }
};
struct Login {
    static constexpr auto type = MessageType::login;
    std::uint32_t request_id = 0;
    std::string_view name;
    std::string_view password;
    auto fields() { return std::tie(request_id, name, password); }
};
struct SendMessage {
    static constexpr auto type = MessageType::send_message;
    std::uint32_t request_id = 0;
    std::string_view to;
    std::string_view text;
    auto fields() { return std::tie(request_id, to, text); }
};
struct Broadcast {
    static constexpr auto type = MessageType::broadcast;
    std::uint32_t request_id = 0;
    std::string_view text;
    auto fields() { return std::tie(request_id, text); }
};
struct WhoElse {
    static constexpr auto type = MessageType::who_else;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};
struct WhoElseSince {
    static constexpr auto type = MessageType::who_else_since;
    std::uint32_t request_id = 0;
    std::uint32_t seconds = 0;
    auto fields() { return std::tie(request_id, seconds); }
};
struct Block {
    static constexpr auto type = MessageType::block;
    std::uint32_t request_id = 0;
    std::string_view user;
    auto fields() { return std::tie(request_id, user); }
};
struct Unblock {
    static constexpr auto type = MessageType::unblock;
    std::uint32_t request_id = 0;
    std::string_view user;
    auto fields() { return std::tie(request_id, user); }
};
struct Logout {
    static constexpr auto type = MessageType::logout;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};
struct StartPrivate {
    static constexpr auto type = MessageType::start_private;
    std::uint32_t request_id = 0;
    std::string_view user;
    auto fields() { return std::tie(request_id, user); }
};
struct StopPrivate {
    static constexpr auto type = MessageType::stop_private;
    std::uint32_t request_id = 0;
    std::string_view user;
    auto fields() { return std::tie(request_id, user); }
};
struct PrivateListen {
    static constexpr auto type = MessageType::private_listen;
    std::uint32_t request_id = 0;
    std::string_view host; // empty: use the address the server sees this connection from
    std::uint16_t port = 0;
    auto fields() { return std::tie(request_id, host, port); }
};
struct AckMessages {
    static constexpr auto type = MessageType::ack_messages;
    std::vector<std::uint64_t> ids;
    auto fields() { return std::tie(ids); }
};

// ---- server -> client ----
// The user sent private-chat text: counts as activity (no reply).
struct PrivateActivity {
    static constexpr auto type = MessageType::private_activity;
    auto fields() { return std::tie(); }
};
// The users this one has blocked; answered with a UserList.
struct ListBlocks {
    static constexpr auto type = MessageType::list_blocks;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};
// WhoElseSince answered with a UserSeenList (who is offline, and for how long).
struct WhoElseSinceSeen {
    static constexpr auto type = MessageType::who_else_since_seen;
    std::uint32_t request_id = 0;
    std::uint32_t seconds = 0;
    auto fields() { return std::tie(request_id, seconds); }
};

struct Welcome {
    static constexpr auto type = MessageType::welcome;
    std::uint16_t version = protocol_version;
    std::uint32_t max_frame = max_frame_size;
    std::string_view server;
    auto fields() { return std::tie(version, max_frame, server); }
};
struct LoginResult {
    static constexpr auto type = MessageType::login_result;
    std::uint32_t request_id = 0;
    LoginOutcome outcome = LoginOutcome::ok;
    std::uint32_t value = 0;
    auto fields() { return std::tie(request_id, outcome, value); }
};
struct Result {
    static constexpr auto type = MessageType::result;
    std::uint32_t request_id = 0;
    Status code = Status::ok;
    std::string_view detail;
    auto fields() { return std::tie(request_id, code, detail); }
};
struct UserList {
    static constexpr auto type = MessageType::user_list;
    std::uint32_t request_id = 0;
    std::vector<std::string_view> names;
    auto fields() { return std::tie(request_id, names); }
};
struct MessageEvent {
    static constexpr auto type = MessageType::message_event;
    std::uint64_t message_id = 0;
    std::uint64_t sent_at_ms = 0; // Unix time in milliseconds, server clock
    std::uint8_t flags = 0;
    std::string_view from;
    std::string_view text;
    auto fields() { return std::tie(message_id, sent_at_ms, flags, from, text); }
};
struct BroadcastEvent {
    static constexpr auto type = MessageType::broadcast_event;
    std::uint64_t sent_at_ms = 0;
    std::string_view from;
    std::string_view text;
    auto fields() { return std::tie(sent_at_ms, from, text); }
};
struct PresenceEvent {
    static constexpr auto type = MessageType::presence_event;
    PresenceKind kind = PresenceKind::login;
    std::string_view user;
    auto fields() { return std::tie(kind, user); }
};
struct SessionEnded {
    static constexpr auto type = MessageType::session_ended;
    EndReason reason = EndReason::timed_out;
    std::string_view detail;
    auto fields() { return std::tie(reason, detail); }
};
struct PrivateIntro {
    static constexpr auto type = MessageType::private_intro;
    std::uint32_t request_id = 0;
    std::string_view peer;
    std::string_view host;
    std::uint16_t port = 0;
    Token token{};
    auto fields() { return std::tie(request_id, peer, host, port, token); }
};
struct PrivateInvite {
    static constexpr auto type = MessageType::private_invite;
    std::string_view peer;
    Token token{};
    auto fields() { return std::tie(peer, token); }
};
struct PrivateRevoked {
    static constexpr auto type = MessageType::private_revoked;
    std::string_view peer;
    auto fields() { return std::tie(peer); }
};
// The session will time out in `seconds_left` unless a command arrives.
struct IdleWarning {
    static constexpr auto type = MessageType::idle_warning;
    std::uint32_t seconds_left = 0;
    auto fields() { return std::tie(seconds_left); }
};
// names[i] is online if offline_for_s[i] == 0, else was last seen that many seconds ago.
struct UserSeenList {
    static constexpr auto type = MessageType::user_seen_list;
    std::uint32_t request_id = 0;
    std::vector<std::string_view> names;
    std::vector<std::uint32_t> offline_for_s;
    auto fields() { return std::tie(request_id, names, offline_for_s); }
};
// An announcement from the server's administrator (confabctl wall).
struct ServerNotice {
    static constexpr auto type = MessageType::server_notice;
    std::uint64_t sent_at_ms = 0;
    std::string_view text;
    auto fields() { return std::tie(sent_at_ms, text); }
};
struct ProtocolError {
    static constexpr auto type = MessageType::protocol_error;
    Status code = Status::bad_request;
    std::string_view detail;
    auto fields() { return std::tie(code, detail); }
};

// ---- control client -> server (PROTOCOL.md §11) ----
struct ControlStatus {
    static constexpr auto type = MessageType::control_status;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};
struct ControlWho {
    static constexpr auto type = MessageType::control_who;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};
struct ControlKick {
    static constexpr auto type = MessageType::control_kick;
    std::uint32_t request_id = 0;
    std::string_view user;
    std::string_view reason; // shown to the user; empty: a default text
    auto fields() { return std::tie(request_id, user, reason); }
};
struct ControlLock {
    static constexpr auto type = MessageType::control_lock;
    std::uint32_t request_id = 0;
    std::string_view user;
    std::uint32_t seconds = lock_until_unlocked;
    auto fields() { return std::tie(request_id, user, seconds); }
};
struct ControlUnlock {
    static constexpr auto type = MessageType::control_unlock;
    std::uint32_t request_id = 0;
    std::string_view user;
    auto fields() { return std::tie(request_id, user); }
};
struct ControlReload {
    static constexpr auto type = MessageType::control_reload;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};
struct ControlWall {
    static constexpr auto type = MessageType::control_wall;
    std::uint32_t request_id = 0;
    std::string_view text;
    auto fields() { return std::tie(request_id, text); }
};
struct ControlMetrics {
    static constexpr auto type = MessageType::control_metrics;
    std::uint32_t request_id = 0;
    auto fields() { return std::tie(request_id); }
};

// ---- server -> control client ----
// ControlStatusReply::offline_stored of a cluster node: its mailboxes are in Redis, shared
// by every node, and no node counts them.
inline constexpr std::uint64_t offline_not_counted = UINT64_MAX;
struct ControlStatusReply {
    static constexpr auto type = MessageType::control_status_reply;
    std::uint32_t request_id = 0;
    std::string_view version;
    std::uint64_t uptime_s = 0;
    std::uint32_t users_online = 0;
    std::uint32_t connections = 0;
    std::uint64_t messages_direct = 0;    // delivered live since start
    std::uint64_t messages_broadcast = 0; // broadcasts sent since start
    std::uint64_t offline_stored = 0;     // messages waiting in mailboxes now, or offline_not_counted
    std::uint32_t store_queue_depth = 0;  // changes waiting for the next commit
    std::uint64_t last_commit_us = 0;     // how long the last commit took
    std::uint64_t memory_bytes = 0;       // resident set size of the daemon
    auto fields() {
        return std::tie(request_id, version, uptime_s, users_online, connections, messages_direct, messages_broadcast,
                        offline_stored, store_queue_depth, last_commit_us, memory_bytes);
    }
};
// One entry per online user, in parallel lists sorted by name.
struct ControlWhoReply {
    static constexpr auto type = MessageType::control_who_reply;
    std::uint32_t request_id = 0;
    std::vector<std::string_view> names;
    std::vector<std::string_view> addresses; // address:port, IPv6 in brackets
    std::vector<std::uint64_t> login_at_ms;  // Unix milliseconds
    std::vector<std::uint32_t> idle_s;       // seconds since the last command
    std::vector<std::uint16_t> private_chats;
    auto fields() { return std::tie(request_id, names, addresses, login_at_ms, idle_s, private_chats); }
};
struct ControlMetricsReply {
    static constexpr auto type = MessageType::control_metrics_reply;
    std::uint32_t request_id = 0;
    std::string_view text; // OpenMetrics text exposition
    auto fields() { return std::tie(request_id, text); }
};

// ---- client <-> client ----
struct PeerHello {
    static constexpr auto type = MessageType::peer_hello;
    std::uint16_t version = protocol_version;
    std::string_view name;
    Token token{};
    auto fields() { return std::tie(version, name, token); }
};
struct PeerWelcome {
    static constexpr auto type = MessageType::peer_welcome;
    std::string_view name;
    auto fields() { return std::tie(name); }
};
struct PeerText {
    static constexpr auto type = MessageType::peer_text;
    std::string_view text;
    auto fields() { return std::tie(text); }
};
struct PeerBye {
    static constexpr auto type = MessageType::peer_bye;
    PeerByeReason reason = PeerByeReason::stopped;
    auto fields() { return std::tie(reason); }
};

using Message = std::variant<Hello, Login, SendMessage, Broadcast, WhoElse, WhoElseSince, Block, Unblock, Logout,
                             StartPrivate, StopPrivate, PrivateListen, AckMessages, Welcome, LoginResult, Result,
                             UserList, MessageEvent, BroadcastEvent, PresenceEvent, SessionEnded, PrivateIntro,
                             PrivateInvite, PrivateRevoked, ProtocolError, PeerHello, PeerWelcome, PeerText, PeerBye,
                             PrivateActivity, ListBlocks, WhoElseSinceSeen, IdleWarning, UserSeenList, ServerNotice,
                             ControlStatus, ControlWho, ControlKick, ControlLock, ControlUnlock, ControlReload,
                             ControlWall, ControlMetrics, ControlStatusReply, ControlWhoReply, ControlMetricsReply>;

MessageType type_of(const Message& m) noexcept;
std::string_view to_string(MessageType t) noexcept;

// Payload size (type byte included, header excluded) of a message.
std::size_t payload_size(const Message& m) noexcept;

// Writes header + payload into `out`. Returns the bytes written, or 0 if `out`
// is too small or the payload would exceed max_frame_size.
std::size_t encode_frame(const Message& m, std::span<std::uint8_t> out) noexcept;

// Appends header + payload to `out` (grows it). Returns false, leaving `out`
// unchanged, if the payload would exceed max_frame_size.
bool append_frame(std::vector<std::uint8_t>& out, const Message& m);

// Decodes one payload (type byte first). Views in the result point into `payload`.
struct DecodeResult {
    std::optional<Message> message;
    DecodeError error = DecodeError::truncated; // meaningful when !message
};
DecodeResult decode_payload(Bytes payload);

} // namespace confab::proto
