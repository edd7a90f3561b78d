// A blocking connection to Redis, for start-up only (reading the durable state,
// the node's ordinal and its own clean-up), before the reactor runs: the same
// place the SQLite store is opened and read. Never used on the reactor thread
// once it runs (RedisConnection is).
#pragma once

#include "cluster/redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace confab {

struct RedisError : std::runtime_error {
    // transient: Redis could not be reached or is not ready yet (refused, timed out, lost,
    // LOADING...), so trying again later may work; otherwise it answered and said no
    // (a wrong password, a command the ACL forbids), which waiting will not change.
    explicit RedisError(const std::string& what, bool transient = true)
        : std::runtime_error(what), transient(transient) {}
    bool transient;
};

struct ReplyFree {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

class RedisSync {
public:
    // Connects (and authenticates) within `timeout_ms`. Throws RedisError.
    explicit RedisSync(const RedisAddress& address, int timeout_ms = 5000);
    ~RedisSync();
    RedisSync(const RedisSync&) = delete;
    RedisSync& operator=(const RedisSync&) = delete;

    // One command; an error reply throws too.
    RedisReplyPtr command(std::span<const std::string_view> argv);
    RedisReplyPtr command(std::initializer_list<std::string_view> argv) {
        return command(std::span(argv.begin(), argv.size()));
    }
    RedisReplyPtr command(const std::vector<std::string>& argv) {
        const std::vector<std::string_view> views(argv.begin(), argv.end());
        return command(std::span(views));
    }
    // Many commands in one round trip (pipelined); replies in order. Error replies
    // are returned as such, not thrown; a lost connection throws.
    std::vector<RedisReplyPtr> pipeline(const std::vector<std::vector<std::string>>& commands);

private:
    void append(std::span<const std::string_view> argv);
    RedisReplyPtr read_reply();
    redisContext* ctx_ = nullptr;
    std::string where_; // the address, for errors
};

// A reply's string (status, string or error), empty for others.
inline std::string_view redis_text(const redisReply* r) {
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_ERROR))
        return {};
    return std::string_view(r->str, r->len);
}

// The RedisError for an error reply, "context: <reply>".
RedisError reply_error(const std::string& context, const redisReply* r);

} // namespace confab
