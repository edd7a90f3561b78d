#include "cluster/redis_store.hpp"

#include "cluster/keys.hpp"
#include "cluster/redis_script.hpp"
#include "core/lockout.hpp"
#include "log_flood.hpp"
#include "proto/parse_number.hpp"

#include <algorithm>
#include <array>
#include <type_traits>
#include <variant>

namespace confab {
namespace {

namespace keys = cluster::keys;

std::int64_t to_i64(std::string_view s) {
    return parse_number<std::int64_t>(s).value_or(0);
}

// KEYS: a user hash. ARGV: the session field. Everything but a session claim goes
// (the claim is its node's to release).
const RedisScript forget_user_script{R"lua(
local holder = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[1])
if holder then redis.call('HSET', KEYS[1], ARGV[1], holder) end
return 0
)lua"};

// HGETALL replies: (field, value) pairs.
template <class F>
void for_pairs(const redisReply* r, F&& f) {
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) f(redis_text(r->element[i]), redis_text(r->element[i + 1]));
}

} // namespace

StoredState RedisStore::load(RedisSync& redis, std::span<const std::string> names) {
    std::vector<std::vector<std::string>> commands;
    commands.reserve(names.size() * 3);
    for (const std::string& name : names) {
        commands.push_back({"SMEMBERS", keys::blocks(name)});
        commands.push_back({"HGETALL", keys::locks(name)});
        commands.push_back({"HGETALL", keys::user(name)});
    }
    auto replies = redis.pipeline(commands);
    StoredState state;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& name = names[i];
        for (const redisReply* r : {replies[3 * i].get(), replies[3 * i + 1].get(), replies[3 * i + 2].get()})
            if (r->type == REDIS_REPLY_ERROR) throw reply_error("reading " + name, r);
        read_blocks(name, replies[3 * i].get(), state);
        read_locks(name, replies[3 * i + 1].get(), state);
        read_user(name, replies[3 * i + 2].get(), state);
    }
    sort_trusted(state);
    return state;
}

void RedisStore::read_blocks(const std::string& name, const redisReply* members, StoredState& into) {
    if (!members || members->type != REDIS_REPLY_ARRAY) return;
    for (std::size_t j = 0; j < members->elements; ++j)
        into.blocks.emplace_back(name, std::string(redis_text(members->element[j])));
}

void RedisStore::read_locks(const std::string& name, const redisReply* fields, StoredState& into) {
    for_pairs(fields, [&](std::string_view field, std::string_view until) {
        if (field == keys::admin_lock_field)
            into.admin_locks.emplace_back(name, to_i64(until));
        else
            into.locks.emplace_back(std::string(field), to_i64(until));
    });
}

std::optional<std::int64_t> RedisStore::read_user(const std::string& name, const redisReply* fields,
                                                  StoredState& into) {
    std::optional<std::int64_t> seen;
    for_pairs(fields, [&](std::string_view field, std::string_view value) {
        if (field.starts_with(keys::trusted_prefix))
            into.trusted.push_back({name, std::string(field.substr(1)), to_i64(value)});
        else if (field == keys::seen_field)
            seen = parse_number<std::int64_t>(value);
    });
    return seen;
}

void RedisStore::sort_trusted(StoredState& state) {
    std::stable_sort(state.trusted.begin(), state.trusted.end(),
                     [](const auto& a, const auto& b) { return a.at_wall_ms < b.at_wall_ms; });
}

RedisConnection::ReplyHandler RedisStore::on_written(const char* what) {
    return [failed = failed_, what](const redisReply* r) {
        if (r && r->type != REDIS_REPLY_ERROR) return;
        ++*failed;
        log::flood(log::Flood::cluster_error, log::Level::warning, "Redis: storing {} failed: {}", what,
                   r ? redis_text(r) : std::string_view("not connected"));
    };
}

void RedisStore::write(std::span<const std::string_view> argv, const char* what) {
    commands_.command(argv, on_written(what));
}

void RedisStore::write(const RedisScript& script, std::span<const std::string_view> tail, const char* what) {
    commands_.eval(script, tail, on_written(what));
}

bool RedisStore::persist(const StoreOp& op) {
    std::visit(
        [&](const auto& o) {
            using O = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<O, store_op::SetBlock>) {
                const std::string key = keys::blocks(o.blocker);
                const std::array<std::string_view, 3> argv{o.blocked_now ? "SADD" : "SREM", key, o.blocked};
                write(argv, "a block");
            } else if constexpr (std::is_same_v<O, store_op::SetLock>) {
                const std::string key = keys::locks(Lockout::name_of(o.name)); // a name's, or a name@address's
                const std::string_view field = o.admin ? keys::admin_lock_field : std::string_view(o.name);
                if (o.until_wall_ms == 0) {
                    const std::array<std::string_view, 3> argv{"HDEL", key, field};
                    write(argv, "a lock");
                } else {
                    const std::string until = std::to_string(o.until_wall_ms);
                    const std::array<std::string_view, 4> argv{"HSET", key, field, until};
                    write(argv, "a lock");
                }
            } else if constexpr (std::is_same_v<O, store_op::SetTrustedAddress>) {
                const std::string key = keys::user(o.name), field = keys::trusted_field(o.address);
                if (o.at_wall_ms == 0) {
                    const std::array<std::string_view, 3> argv{"HDEL", key, field};
                    write(argv, "a trusted address");
                } else {
                    const std::string at = std::to_string(o.at_wall_ms);
                    const std::array<std::string_view, 4> argv{"HSET", key, field, at};
                    write(argv, "a trusted address");
                }
            } else if constexpr (std::is_same_v<O, store_op::ForgetUser>) {
                // Their own keys. Blocks of them and messages from them in other users' keys stay
                // until those are read: restore drops blocks of unknown names, and the mailbox
                // drops messages from them at delivery.
                const std::string k[] = {keys::blocks(o.name), keys::locks(o.name), keys::mailbox(o.name),
                                         keys::senders(o.name), keys::user(o.name)};
                const std::array<std::string_view, 5> del{"DEL", k[0], k[1], k[2], k[3]};
                write(del, "the removal of a user");
                const std::array<std::string_view, 3> user{"1", k[4], keys::session_field};
                write(forget_user_script, user, "the removal of a user");
            } else {
                // InsertMessage, DeleteMessages: the Redis mailbox keeps its own messages.
                static_assert(std::is_same_v<O, store_op::InsertMessage> ||
                              std::is_same_v<O, store_op::DeleteMessages>);
                log::error("Redis store: a mailbox write reached the store (the Redis mailbox writes its own)");
            }
        },
        op);
    return true;
}

} // namespace confab
