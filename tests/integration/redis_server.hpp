// A real redis-server for tests (never the system's service): the binary from
// $REDIS_SERVER, or `redis-server` in PATH, on 127.0.0.1 at an ephemeral port
// and on a unix socket, in a private temp directory, with no RDB snapshots.
// It can be stopped, killed, paused and started again on the same port and
// directory (restart tests; with aof, what it acknowledged survives). Every
// wait is bounded; the destructor kills it.
#pragma once

#include "harness.hpp"

#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace confab::test {

struct RedisServerOptions {
    bool aof = false;     // appendonly yes + appendfsync always (the settings docs/CLUSTER.md prescribes)
    std::string password; // requirepass, or with `user` that ACL user's password (the default user is then off)
    std::string user;
    // One more ACL user, as the words after `ACL SETUSER` (name first, then its rules), given at
    // start-up so that it survives a restart; the admin user above (or the default) stays as is.
    std::vector<std::string> acl_user;
    // Where the data (the append-only file) lives, kept after the fixture ends; empty: its
    // own temp directory. A fixture started again on the same data_dir finds it again.
    std::string data_dir;
    std::vector<std::string> extra_args; // more redis-server options, as on its command line
};

class RedisServer {
public:
    explicit RedisServer(RedisServerOptions opts = {}); // started; throws with the log when it does not come up
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const { return port_; }
    std::string unix_path() const { return dir_.path() + "/redis.sock"; }
    const TempDir& dir() const { return dir_; }
    const RedisServerOptions& options() const { return opts_; }
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }

    void start(); // again, on the same port and directory; waits until it answers PING (10 s)
    void stop();  // SIGTERM and wait for the exit (10 s, then SIGKILL)
    void kill();  // SIGKILL and wait
    void pause(); // SIGSTOP: connections stay open, nothing is answered
    void resume();

    // One command through hiredis's synchronous API (authenticated as configured;
    // 2 s timeouts). The reply as text: a string, status or error as is, an
    // integer in decimal, nil as "(nil)", an array's elements one per line.
    // Throws when Redis cannot be reached.
    std::string cli(const std::vector<std::string>& args) const;
    std::string log() const;

private:
    bool launch(); // false: it exited during start-up (the port was taken)

    RedisServerOptions opts_;
    TempDir dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// The reply as RedisServer::cli describes it.
std::string reply_text(const redisReply* r);

} // namespace confab::test
