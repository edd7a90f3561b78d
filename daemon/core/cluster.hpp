// The chat core's view of the other nodes of a cluster (docs/CLUSTER.md), without I/O.
//
// Every node keeps a replica of what the rules need to answer at once: who is
// online on which node (with the private-chat endpoint), last-seen times, block
// lists and lockouts. The replica is fed by Events from the other nodes; the
// shared engine (Redis) is the source of truth for the one session per name and
// the offline mailboxes, and answers those asynchronously. Traffic between two
// users of the same node never crosses this interface.
//
// The single-node deployment has no ClusterLink at all (ChatCore is given a
// null one); the core then behaves exactly as before and pays nothing.
#pragma once

#include "core/store_ops.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace confab {

namespace cluster {

// A cluster node's message ids end in its ordinal (ClusterLink::node_ordinal):
// node_ordinal_bits low bits, so at most node_ordinals live nodes.
inline constexpr unsigned node_ordinal_bits = 10;
inline constexpr std::uint32_t node_ordinals = 1u << node_ordinal_bits;

// `name` is logged in on `node` since `at_wall_ms`; private chats dial
// listen_host:listen_port (port 0: no listener). Sent at login and again when
// the user's PrivateListen changes. The login's own carries the address key it
// came from (AddressLimits::key_of), which every node then trusts for `name` as
// that node does (TrustedAddresses); the others, and a Snapshot's, leave it empty.
struct Online {
    std::string name, node;
    std::int64_t at_wall_ms = 0;
    std::string listen_host;
    std::uint16_t listen_port = 0;
    std::string trusted_address;
};
// `name` logged out of `node` at `at_wall_ms` (its last-seen time).
struct Offline {
    std::string name, node;
    std::int64_t at_wall_ms = 0;
};
// A direct message for `to`, who is online on the node it is routed to. That node
// decides (its user's block list is the one in force) and answers `reply_node`
// with a DirectAnswer carrying `reply_tag`.
struct Direct {
    std::string to, from;
    std::uint64_t id = 0;
    std::int64_t sent_at_ms = 0;
    std::string text;
    std::string reply_node;
    std::uint64_t reply_tag = 0;
};
// Routed back to a Direct's node: the Result its sender gets (ok, ok_stored,
// blocked_by_recipient, mailbox_full, ...), with the detail text.
struct DirectAnswer {
    std::uint64_t tag = 0;
    proto::Status status = proto::Status::ok;
    std::string detail;
};
// A broadcast from `from` on `node`: every other node shows it to its own users
// (except those who blocked the sender).
struct Broadcast {
    std::string from, node;
    std::int64_t sent_at_ms = 0;
    std::string text;
};
// `blocker` blocked (on) or unblocked `blocked`.
struct BlockChanged {
    std::string blocker, blocked;
    bool on = false;
};
// A wrong password for Lockout key `lock_key` on another node: it counts here too.
struct LoginFailed {
    std::string lock_key;
};
// A lock on `lock_key` set (until_wall_ms > 0; INT64_MAX: until unlocked) or lifted (0).
// admin: confabctl lock/unlock (the key is then a plain name), else a lockout.
struct Locked {
    std::string lock_key;
    std::int64_t until_wall_ms = 0;
    bool admin = false;
};
// Routed to `to`'s node: a PrivateInvite from `from` (refused there if `to` blocks `from`:
// a revoked PairEnded comes back).
struct Invite {
    std::string to, from;
    proto::Token token{};
};
// Routed to `to`'s node: the private pair (to, peer) ended; `revoked` tells `to`
// with PrivateRevoked (a block), otherwise the pair is forgotten silently. It ends every
// introduction the sender's node made and, of those made at `to`'s node, the one `token`
// names: the latest the sender had heard of (all zeros: none). One whose Invite was still
// on its way to the sender is a new pair for it, which stays.
struct PairEnded {
    std::string to, peer;
    bool revoked = false;
    proto::Token token{};
};
// Routed to `name`'s node: end that session (confabctl kick or lock on another node).
struct EndSession {
    std::string name;
    proto::EndReason reason = proto::EndReason::kicked;
    std::string detail;
};
// A ServerNotice (confabctl wall) for every user of every node.
struct Notice {
    std::int64_t at_wall_ms = 0;
    std::string text;
};
// Several DirectAnswers for one node in one message: the engine sends those of one
// turn of its loop together (one PUBLISH instead of one per message).
struct DirectAnswers {
    std::vector<DirectAnswer> answers;
};
// Several Directs for one node in one message, in the order they were sent: the engine
// sends those of one turn of its loop together (one PUBLISH instead of one per message).
struct Directs {
    std::vector<Direct> directs;
};
// Made by the engine itself, never sent: `node` stopped heartbeating; its users are gone.
struct NodeDown {
    std::string node;
};
// Made by the engine itself after (re)connecting: everyone online on the other live
// nodes, and the last-seen times it holds. Replaces the replica's remote part.
struct Snapshot {
    // Set on a read after (re)connecting, not on a read again while available: before
    // reading anything, the engine claimed again every session this node holds (the others
    // may have taken it for dead meanwhile and released them). `taken`: those another node
    // holds now (logged in there while this one was cut off); those sessions end here, the
    // others are announced again. Read after the claims, `online` has them where they are.
    struct Reclaim {
        std::vector<std::string> taken;
    };
    std::optional<Reclaim> reclaim;
    std::vector<Online> online;
    std::vector<std::pair<std::string, std::int64_t>> last_seen; // (name, Unix ms)
    // Set when read: the block lists, locks and trusted addresses stored for `names`
    // (the users file), with what other nodes changed while this one could not hear
    // them. They replace the replica's block lists, administrative locks and trusted
    // addresses of those names (a user logged in here keeps this node's addresses: their
    // logins add to it here); its lockouts are added. After a reconnect (`reclaim` set) a
    // lockout running here that is not stored is lifted, unless this node counted it while
    // cut off (it was never stored). Never encoded: the engine's own.
    struct Stored {
        std::vector<std::string> names;
        StoredState state; // no messages
    };
    std::optional<Stored> stored;
};

using Event = std::variant<Online, Offline, Direct, Broadcast, BlockChanged, LoginFailed, Locked, Invite, PairEnded,
                           EndSession, Notice, NodeDown, Snapshot, DirectAnswer, DirectAnswers, Directs>;

enum class Claim : std::uint8_t {
    claimed,     // this node now holds the name's session
    taken,       // a live node holds it: already logged in
    unavailable, // the engine could not be asked
};

} // namespace cluster

// What the core asks of the cluster. Answers come back through the glue, which
// forwards them to ChatCore::on_claimed / on_routed / on_cluster_event with the time.
class ClusterLink {
public:
    virtual ~ClusterLink() = default;
    // This node's id (unique in the cluster, e.g. "host:port").
    virtual const std::string& node_id() const = 0;
    // 0..node_ordinals-1, distinct among the live nodes: the low bits of this node's
    // message ids, so ids stay unique cluster-wide. It may change while the node runs
    // (it was taken while the node was cut off from the engine): read it for every id.
    virtual std::uint16_t node_ordinal() const = 0;
    // The engine is reachable now; when false, what needs it is refused as unavailable.
    virtual bool available() const = 0;
    // Claim `name`'s one session cluster-wide; answered once by on_claimed(tag, …).
    virtual void claim(std::uint64_t tag, std::string_view name) = 0;
    // This node's session of `name` ended: drop the claim (only if this node holds it).
    virtual void release(std::string_view name) = 0;
    // To every other node, best effort (Online and Offline also update the shared presence).
    virtual void publish(const cluster::Event& e) = 0;
    // To one node. tag != 0: answered once by on_routed(tag, delivered), where
    // delivered says the node was listening (false: it is gone or the engine is down).
    virtual void send_to(std::string_view node, std::uint64_t tag, const cluster::Event& e) = 0;
    // Answered once by on_flushed(tag, ok): ok once everything this node published or
    // sent before the call has reached the shared engine and so the other nodes,
    // ahead of anything a client does after hearing of it. A reply that confirms a
    // change the other nodes must know (a login, a block) waits for this.
    virtual void flush(std::uint64_t tag) = 0;
};

} // namespace confab
