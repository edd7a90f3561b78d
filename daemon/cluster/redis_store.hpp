// The durable state of cluster mode in Redis (docs/CLUSTER.md): block lists,
// lockouts and administrative locks, trusted addresses. The chat core's
// StoreOps are written on the engine's command connection, without waiting;
// load() reads it all back at start-up with a blocking connection, before the
// reactor runs, like the SQLite store's load.
//
// Offline messages are not here: the Redis mailbox (redis_mailbox.hpp) writes
// its own, so InsertMessage and DeleteMessages never reach this store.
// A write that fails (Redis unreachable) is logged, rate-limited, and not
// retried. Blocks and administrative locks are refused while Redis is away, so
// such a write is one lost as the connection dropped: the node's replica is read
// again when it reconnects, which undoes it there too. A lockout counted while
// Redis was away holds on that node until it ends. Nothing a user was told is
// stored depends on these writes.
#pragma once

#include "cluster/redis_connection.hpp"
#include "cluster/redis_sync.hpp"
#include "core/store_ops.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace confab {

class RedisScript;

class RedisStore {
public:
    explicit RedisStore(RedisConnection& commands) : commands_(commands) {}

    // The blocks, locks and trusted addresses of `names` (the users file). Throws RedisError.
    static StoredState load(RedisSync& redis, std::span<const std::string> names);
    // What one name's keys hold, reply by reply: SMEMBERS of keys::blocks, HGETALL of
    // keys::locks and of keys::user (whose `seen` field read_user returns). load() and
    // the engine's Snapshot after a reconnect read them alike; sort_trusted() once after.
    static void read_blocks(const std::string& name, const redisReply* members, StoredState& into);
    static void read_locks(const std::string& name, const redisReply* fields, StoredState& into);
    static std::optional<std::int64_t> read_user(const std::string& name, const redisReply* fields, StoredState& into);
    static void sort_trusted(StoredState& state);

    // Sends the write; true always (a failure is logged when Redis answers).
    bool persist(const StoreOp& op);

    std::uint64_t failed_writes() const noexcept { return *failed_; }

private:
    void write(std::span<const std::string_view> argv, const char* what);
    void write(const RedisScript& script, std::span<const std::string_view> tail, const char* what);
    RedisConnection::ReplyHandler on_written(const char* what);
    RedisConnection& commands_;
    // Shared with the reply handlers, which the connection may call after the store is gone
    // (at exit it fails what is still pending).
    std::shared_ptr<std::uint64_t> failed_ = std::make_shared<std::uint64_t>(0);
};

} // namespace confab
