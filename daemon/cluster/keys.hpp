// Every Redis key and pub/sub channel of cluster mode, named in this one place
// (docs/CLUSTER.md lists them). A user's keys carry the name as a hash tag
// ({alice}) and a node's keys its id ({NODE}), so each script touches keys of one
// tag only and the schema works unchanged on Redis Cluster.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace confab::cluster::keys {

namespace detail {
inline std::string tagged(std::string_view prefix, std::string_view tag, std::string_view suffix) {
    std::string k;
    k.reserve(prefix.size() + tag.size() + suffix.size() + 2);
    k.append(prefix).append("{").append(tag).append("}").append(suffix);
    return k;
}
} // namespace detail

// ---- per user
// Hash of what a user has besides blocks, locks and mail, in one key: a key of
// its own costs Redis some 80 bytes before any data, a small hash's field a few
// (docs/CLUSTER.md, "Sizing Redis"). Fields:
inline std::string user(std::string_view name) {
    return detail::tagged("confab:", name, ":user");
}
// The node holding the name's one session (present while online).
inline constexpr std::string_view session_field = "session";
// The last logout, Unix ms.
inline constexpr std::string_view seen_field = "seen";
// '@' + address -> the last login from that address (Unix ms): the trusted addresses.
inline constexpr char trusted_prefix = '@';
inline std::string trusted_field(std::string_view address) {
    return std::string(1, trusted_prefix).append(address);
}
// Set of the names this user has blocked.
inline std::string blocks(std::string_view name) {
    return detail::tagged("confab:", name, ":blocks");
}
// Hash lock key -> until (Unix ms); the administrator's lock under admin_lock_field.
inline std::string locks(std::string_view name) {
    return detail::tagged("confab:", name, ":locks");
}
inline constexpr std::string_view admin_lock_field = "!admin";
// Stream of offline messages (fields id, from, at, text) and its per-sender counts.
inline std::string mailbox(std::string_view name) {
    return detail::tagged("confab:", name, ":mailbox");
}
inline std::string senders(std::string_view name) {
    return detail::tagged("confab:", name, ":senders");
}

// ---- per node
// "1" while the node heartbeats (PX node_alive_ms).
inline std::string node_alive(std::string_view node) {
    return detail::tagged("confab:node:", node, ":alive");
}
// The node's online users, spread over node_user_buckets hashes so that each
// stays small enough for Redis's compact encoding (hash-max-listpack-entries):
// name -> "login_ms", or "login_ms listen_host listen_port" with a private-chat listener.
inline constexpr std::uint32_t node_user_buckets = 1024;
inline std::uint32_t node_users_bucket(std::string_view name) {
    std::uint32_t h = 2166136261u; // FNV-1a: the bucket only has to be the same within one node's run
    for (const char c : name) h = (h ^ std::uint8_t(c)) * 16777619u;
    return h % node_user_buckets;
}
inline std::string node_users(std::string_view node, std::uint32_t bucket) {
    return detail::tagged("confab:node:", node, ":users:").append(std::to_string(bucket));
}
inline std::string node_users_of(std::string_view node, std::string_view name) {
    return node_users(node, node_users_bucket(name));
}
// The node's own channel: Direct, Invite, PairEnded, EndSession.
inline std::string node_channel(std::string_view node) {
    return std::string("confab:node:").append(node);
}

// ---- cluster-wide
inline constexpr std::string_view nodes = "confab:nodes"; // set of node ids
// INCRed by a node looking for an ordinal: where its search starts.
inline constexpr std::string_view node_ordinal = "confab:node-ordinal";
// Ordinal N's slot: the id of the node holding it (with the alive key's TTL, refreshed with
// its heartbeat), so no two live nodes share an ordinal. Each slot is its own hash tag ({N}).
inline std::string ordinal_slot(std::uint32_t ordinal) {
    return detail::tagged("confab:ordinal:", std::to_string(ordinal), "");
}
inline constexpr std::string_view all_channel = "confab:all"; // events for every node

} // namespace confab::cluster::keys
