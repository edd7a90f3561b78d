#include "cluster/node_ordinal.hpp"

#include "cluster/keys.hpp"
#include "core/cluster.hpp"

#include <fmt/format.h>

namespace confab::cluster {

const RedisScript hold_ordinal_script{R"lua(
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
)lua"};

const RedisScript release_ordinal_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua"};

std::vector<std::uint32_t> ordinal_candidates(const std::vector<std::optional<std::string>>& holders,
                                              std::string_view node, std::uint32_t start) {
    std::vector<std::uint32_t> own, free;
    const auto n = std::uint32_t(holders.size());
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t ordinal = (start + i) % n;
        const auto& holder = holders[ordinal];
        if (!holder)
            free.push_back(ordinal);
        else if (*holder == node)
            own.push_back(ordinal);
    }
    own.insert(own.end(), free.begin(), free.end());
    return own;
}

std::uint16_t take_ordinal(RedisSync& redis, const std::string& node, std::int64_t ttl_ms) {
    const auto counter = redis.command({"INCR", keys::node_ordinal});
    const auto start = std::uint32_t(std::uint64_t(counter->integer) % node_ordinals);
    std::vector<std::vector<std::string>> reads;
    for (std::uint32_t n = 0; n < node_ordinals; ++n) reads.push_back({"GET", keys::ordinal_slot(n)});
    const auto replies = redis.pipeline(reads);
    std::vector<std::optional<std::string>> holders(node_ordinals);
    for (std::uint32_t n = 0; n < node_ordinals; ++n) {
        const redisReply* r = replies[n].get();
        if (r->type == REDIS_REPLY_ERROR) throw reply_error("reading " + reads[n][1], r);
        if (r->type == REDIS_REPLY_STRING) holders[n] = std::string(redis_text(r));
    }
    const std::string ttl = std::to_string(ttl_ms);
    for (const std::uint32_t n : ordinal_candidates(holders, node, start)) {
        // Another node starting at the same time may have taken it since: then the next one.
        const auto held = redis.command(hold_ordinal_script.eval_command({"1", keys::ordinal_slot(n), node, ttl}));
        if (held->type == REDIS_REPLY_INTEGER && held->integer == 1) return std::uint16_t(n);
    }
    throw std::runtime_error(
        fmt::format("cluster: node {} cannot join: all {} node ordinals are held by live nodes (two nodes sharing "
                    "one could make the same message ids); stop a node, or wait {} s if one died",
                    node, node_ordinals, (ttl_ms + 999) / 1000));
}

} // namespace confab::cluster
