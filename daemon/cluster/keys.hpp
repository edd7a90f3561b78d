// Every Redis key and pub/sub channel of cluster mode, named in this one place
// (docs/CLUSTER.md lists them). A user's keys carry the name as a hash tag
// ({alice}) and a node's keys its id ({NODE}), so each script touches keys of one
// tag only and the schema works unchanged on Redis Cluster.
#pragma once

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
// The node holding the name's one session.
inline std::string session(std::string_view name) {
    return detail::tagged("confab:", name, ":session");
}
// The last logout, Unix ms.
inline std::string seen(std::string_view name) {
    return detail::tagged("confab:", name, ":seen");
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
// Sorted set address -> last login from it (Unix ms).
inline std::string trusted(std::string_view name) {
    return detail::tagged("confab:", name, ":trusted");
}
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
// Hash name -> "login_ms listen_host listen_port" of the node's online users.
inline std::string node_users(std::string_view node) {
    return detail::tagged("confab:node:", node, ":users");
}
// The node's own channel: Direct, Invite, PairEnded, EndSession.
inline std::string node_channel(std::string_view node) {
    return std::string("confab:node:").append(node);
}

// ---- cluster-wide
inline constexpr std::string_view nodes = "confab:nodes";               // set of node ids
inline constexpr std::string_view node_ordinal = "confab:node-ordinal"; // INCR at start-up
inline constexpr std::string_view all_channel = "confab:all";           // events for every node

} // namespace confab::cluster::keys
