#include "cluster/redis_sync.hpp"

#include <fmt/format.h>

#include <sys/time.h>

namespace confab {

RedisSync::RedisSync(const RedisAddress& address, int timeout_ms) : where_(address.describe()) {
    const timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ctx_ = address.unix_path.empty() ? redisConnectWithTimeout(address.host.c_str(), address.port, tv)
                                     : redisConnectUnixWithTimeout(address.unix_path.c_str(), tv);
    if (!ctx_) throw RedisError(fmt::format("Redis {}: out of memory", where_));
    // A constructor that throws runs no destructor: the context is freed here.
    try {
        if (ctx_->err) throw RedisError(fmt::format("Redis {}: cannot connect: {}", where_, ctx_->errstr));
        redisSetTimeout(ctx_, tv); // every later reply too: start-up never hangs on a stalled Redis
        if (!address.password.empty()) {
            try {
                if (address.user.empty())
                    command({"AUTH", address.password});
                else
                    command({"AUTH", address.user, address.password});
            } catch (const RedisError& e) {
                if (e.transient) throw;
                throw RedisError(fmt::format("{} (check redis_user and redis_password)", e.what()), false);
            }
        }
    } catch (...) {
        redisFree(ctx_);
        ctx_ = nullptr;
        throw;
    }
}

RedisSync::~RedisSync() {
    if (ctx_) redisFree(ctx_);
}

void RedisSync::append(std::span<const std::string_view> argv) {
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (auto a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, int(args.size()), args.data(), lens.data()) != REDIS_OK)
        throw RedisError(fmt::format("Redis {}: {}", where_, ctx_->errstr));
}

RedisReplyPtr RedisSync::read_reply() {
    void* reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK || !reply)
        throw RedisError(fmt::format("Redis {}: {}", where_, ctx_->err ? ctx_->errstr : "no reply"));
    return RedisReplyPtr(static_cast<redisReply*>(reply));
}

RedisError reply_error(const std::string& context, const redisReply* r) {
    const std::string_view text = redis_text(r);
    bool transient = false; // the error replies of a Redis that is not ready yet, rather than one that refuses
    for (std::string_view code : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"})
        transient = transient || text.starts_with(code);
    return RedisError(fmt::format("{}: {}", context, text), transient);
}

RedisReplyPtr RedisSync::command(std::span<const std::string_view> argv) {
    append(argv);
    RedisReplyPtr r = read_reply();
    if (r->type == REDIS_REPLY_ERROR)
        throw reply_error(fmt::format("Redis {}: {} failed", where_, argv.empty() ? "" : argv[0]), r.get());
    return r;
}

std::vector<RedisReplyPtr> RedisSync::pipeline(const std::vector<std::vector<std::string>>& commands) {
    std::vector<RedisReplyPtr> replies;
    replies.reserve(commands.size());
    constexpr std::size_t batch = 1000; // bounded output buffer and reply backlog
    for (std::size_t start = 0; start < commands.size(); start += batch) {
        const std::size_t end = std::min(commands.size(), start + batch);
        for (std::size_t i = start; i < end; ++i) {
            std::vector<std::string_view> argv(commands[i].begin(), commands[i].end());
            append(argv);
        }
        for (std::size_t i = start; i < end; ++i) replies.push_back(read_reply());
    }
    return replies;
}

} // namespace confab
