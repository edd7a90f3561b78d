// The redis-server a cluster run shares: started by the bench on an ephemeral
// 127.0.0.1 port in its own temp dir (no RDB snapshots; the AOF per --redis-aof),
// never the system service. Also answers the bench's own questions (INFO memory)
// over a synchronous hiredis connection, off every measured path.
#pragma once

#include "child_process.hpp"

#include <cstdint>
#include <string>

namespace confab::bench {

class RedisServer {
public:
    // `aof`: "always" (appendonly yes, appendfsync always: what docs/CLUSTER.md
    // prescribes), "everysec", or "no" (appendonly no). Throws std::runtime_error
    // with the server's log if it does not answer PING within 10 s.
    RedisServer(const std::string& binary, const std::string& dir, const std::string& aof);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const { return port_; }
    int pid() const { return child_.pid(); }
    std::string address() const; // "127.0.0.1:PORT", as [cluster] redis wants it
    bool alive() { return child_.alive(); }
    std::string log_tail(std::size_t max_bytes = 2000) const;
    // INFO memory's used_memory: what Redis's allocator holds for data and buffers.
    std::uint64_t used_memory() const;
    // SIGTERM, bounded wait, then SIGKILL. Returns the exit status if it stopped cleanly.
    int stop(double wait_s) { return child_.stop(wait_s); }

private:
    // One command on a fresh connection; its reply as text ("" on failure).
    std::string query(const char* command) const;

    std::string dir_;
    ChildProcess child_;
    std::uint16_t port_ = 0;
};

} // namespace confab::bench
