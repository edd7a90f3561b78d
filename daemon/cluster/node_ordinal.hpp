// A node's ordinal (the low bits of its message ids) is unique among the live
// nodes: ordinal N is held through its slot key (keys::ordinal_slot), whose value
// is the holder's node id and which expires unless the holder's heartbeat
// refreshes it. A node looks for a free slot from the cluster's start-up counter
// onwards: slots are handed out in turn, so one freed by a dead node is not the next's.
#pragma once

#include "cluster/redis_script.hpp"
#include "cluster/redis_sync.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::cluster {

// KEYS: a slot. ARGV: a node, the TTL (ms). Takes or refreshes the slot if it is
// free or that node's already: 1; else the node holding it (a string).
extern const RedisScript hold_ordinal_script;
// KEYS: a slot. ARGV: a node. Deletes the slot only if that node holds it.
extern const RedisScript release_ordinal_script;

// The ordinals worth trying, best first, given each slot's holder (node_ordinals
// of them; nullopt: free): those `node` holds already (a restart of the same node
// id), then the free ones from `start` onwards, wrapping around.
std::vector<std::uint32_t> ordinal_candidates(const std::vector<std::optional<std::string>>& holders,
                                              std::string_view node, std::uint32_t start);

// Start-up, blocking: takes a slot for `node` (PX ttl_ms) and returns its ordinal.
// Throws std::runtime_error when every slot is held by another live node, RedisError
// when Redis fails.
std::uint16_t take_ordinal(RedisSync& redis, const std::string& node, std::int64_t ttl_ms);

} // namespace confab::cluster
