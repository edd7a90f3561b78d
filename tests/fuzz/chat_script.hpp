// The byte code the ChatCore harness runs: one operation of the glue (a
// connection, a decoded message, a timer advance, a hash or store answer...)
// after another. The harness and the seed generator share these tables.
//
// Input: [u8 setup bits] then operations, each [u8 Op] and its arguments:
//   connect [host]            message [conn][Msg][fields]   protocol_error [conn][status]
//   disconnect [conn]         advance [delay]               verify_result [job][bits]
//   store_result [tag][ok]    saturate [bits]               settings [preset]
//   users [mask]              shutdown                     admin [Admin][name][text][seconds]
// [conn] picks among the open connections; every other argument is one byte
// indexing a table below, except raw strings ([u8 length][bytes]).
// The cluster harness (chat-core-cluster) has the ClusterOps too, numbered on
// from Op::count: the core is one node of a cluster behind a fake ClusterLink.
#pragma once

#include <cstdint>
#include <string_view>

namespace confab::fuzz::chat {

enum class Op : std::uint8_t {
    connect,
    message,
    protocol_error,
    disconnect,
    advance,
    verify_result,
    store_result,
    saturate,
    settings,
    users,
    shutdown,
    admin,
    count,
};

// The cluster's side: an event from another node, [Remote kind][fields] or raw [str] for decode_event;
// an engine's answer to a claim, a routed Direct or a flush [which][bits] (which 255: any tag, [tag]);
// the shared state lost or regained [bits]; answers given at once from inside the call, or later [bits].
enum class ClusterOp : std::uint8_t {
    event,
    claimed,
    routed,
    flushed,
    available,
    at_once,
    count,
};

// The events another node can send (cluster::Event's alternatives), and `raw`: any payload that decodes.
// Fields: [name]s, [node], [time], [text], [host][port] as for messages; a tag [which] among the
// Directs this node sent (255: [tag]); Snapshot [n] Onlines and [n] last-seen entries.
enum class Remote : std::uint8_t {
    online,
    offline,
    direct,
    broadcast,
    block_changed,
    login_failed,
    locked,
    invite,
    pair_ended,
    end_session,
    notice,
    node_down,
    snapshot,
    direct_answer,
    raw,
    count,
};

// This node's id is the first; "" and an unknown node are what a confused peer may say.
inline constexpr std::string_view node_table[] = {"node-1", "node-2", "node-3", "", "node-9"};
// [time] of an event, Unix ms: offsets from now, and the extremes.
inline constexpr std::int64_t time_offset_table[] = {0, -1, 1, -10000, 10000, -3600000, 86400000};
inline constexpr std::int64_t time_absolute_table[] = {0, -1, INT64_MIN, INT64_MAX, INT64_MAX - 1, INT64_MIN + 1};

// What the control socket asks of the core (PROTOCOL.md §11): kick [name][text], lock [name][seconds],
// unlock [name], wall [text], who; each reads all three arguments.
enum class Admin : std::uint8_t {
    kick,
    lock,
    unlock,
    wall,
    who,
    count,
};

// Message fields: hello [version]; login [rid][name][password];
// send_message [rid][name][text]; broadcast [rid][text]; who_else [rid];
// who_else_since [rid][seconds]; block, unblock, start_private, stop_private
// [rid][name]; logout [rid]; private_listen [rid][host][port];
// ack_messages [count][id choice]...; private_activity [rid, unused];
// list_blocks [rid]; who_else_since_seen [rid][seconds]; raw [str]: any payload that decodes.
enum class Msg : std::uint8_t {
    hello,
    login,
    send_message,
    broadcast,
    who_else,
    who_else_since,
    block,
    unblock,
    logout,
    start_private,
    stop_private,
    private_listen,
    ack_messages,
    private_activity,
    list_blocks,
    who_else_since_seen,
    raw,
    count,
};

// Setup bits.
inline constexpr std::uint8_t setup_hashed_user = 1; // erin has a crypt hash: logins go through verify_result
inline constexpr std::uint8_t setup_no_presence = 2;
inline constexpr std::uint8_t setup_small_mailbox = 4;

// Users of the users file (plaintext `<name>123`, except a hashed erin); `zed` is never a user.
inline constexpr std::string_view user_names[] = {"alice", "bob", "carol", "dave", "erin"};
inline constexpr std::size_t user_count = std::size(user_names);

// [name]: a user, a stranger, names that break the rule, or a raw string (last).
inline constexpr std::string_view name_table[] = {
    "alice", "bob", "carol", "dave", "erin", "zed", "", "no space", "x23456789012345678901234567890123",
    // 63 bytes of x and an é across byte 64: the reply that echoes it must cut on a boundary
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xC3\xA9", "\x1B[2J", "raw"};
inline constexpr std::size_t raw_name = std::size(name_table) - 1;

// [password]: 0 the user's own, 1 wrong, 2 empty, 3 raw.
inline constexpr std::size_t password_count = 4;

// [text]: the last entries are filled at run time (1000 and 1001 bytes, raw).
inline constexpr std::string_view text_table[] = {"hi", "", "h\xC3\xA9llo \xE2\x80\xAE!", "long", "too long", "raw"};
inline constexpr std::size_t long_text = 3, too_long_text = 4, raw_text = 5;

inline constexpr std::uint16_t version_table[] = {1, 0, 2, 0xFFFF};
inline constexpr std::uint32_t seconds_table[] = {0, 1, 30, 300, 86400, 0xFFFFFFFF};
inline constexpr std::string_view host_table[] = {"", "198.51.100.4", "2001:db8::9", "long"}; // long: 256 bytes
inline constexpr std::uint16_t port_table[] = {0, 1, 40000, 0xFFFF};
inline constexpr std::string_view peer_host_table[] = {"192.0.2.7", "192.0.2.8", "2001:db8::1"};
// The address an Online says its login came from: none, a peer's, one nobody connects from, and
// "long": over AddressLimits::max_key_length, which no payload carries.
inline constexpr std::string_view trusted_address_table[] = {"", "192.0.2.7", "2001:db8::/64", "203.0.113.9", "long"};

// [delay], in ms: around every deadline the core keeps (defaults: block 10 s, login 30 s, idle 300 s).
inline constexpr std::int64_t delay_table[] = {0,     1,     500,   999,    1000,   9999,   10000,  10001,
                                               29999, 30000, 30001, 299999, 300000, 300001, 3600000};

} // namespace confab::fuzz::chat
