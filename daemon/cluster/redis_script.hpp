// A Lua script of the Redis engine: its text and its SHA1, the name Redis's
// script cache knows it by. RedisConnection::eval runs it with EVALSHA, sending
// the text only when that connection has not sent it yet or Redis has forgotten
// it (NOSCRIPT: a restart or SCRIPT FLUSH empties the cache).
//
// Scripts are constants with static storage duration: a connection remembers
// which ones it has sent, and a retry after NOSCRIPT refers to the script.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace confab {

class RedisScript {
public:
    explicit RedisScript(std::string_view body);
    RedisScript(const RedisScript&) = delete;
    RedisScript& operator=(const RedisScript&) = delete;

    std::string_view body() const noexcept { return body_; }
    std::string_view sha1() const noexcept { return sha1_; } // 40 lowercase hex digits

    // EVAL with the text, for a blocking pipeline (start-up and exit, RedisSync), which
    // cannot wait for a NOSCRIPT before sending the rest. `tail`: numkeys, keys, args.
    std::vector<std::string> eval_command(std::vector<std::string> tail) const;

private:
    std::string body_, sha1_;
};

} // namespace confab
