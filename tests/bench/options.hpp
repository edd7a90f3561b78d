// Command line of confab-bench. Sizes default to the figures issue 7 asks
// for; --smoke shrinks every workload so CI can run them all in seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace confab::bench {

struct Options {
    // direct, fanout, idle, login, store, hostile-* (in run order); a "tls:" prefix runs
    // that one over TLS, "tls-resume:" also with --resume (--smoke adds such runs).
    std::vector<std::string> workloads;

    // Target daemon: our own (started from `confabd`) or a running one.
    std::string confabd = "./build/daemon/confabd";
    std::string connect_host; // non-empty: --connect HOST:PORT
    std::uint16_t connect_port = 0;
    int pid = 0; // --pid: the running daemon, for /proc sampling
    std::string daemon_log_level = "info";
    int hash_workers = 0;                // 0: the daemon's default
    bool presence = false;               // presence broadcasts on login/logout
    bool keep_dir = false;               // keep the temp dir (logs, config) for inspection
    std::vector<std::string> daemon_set; // --set KEY=VALUE, passed on to the started confabd

    // --nodes N (> 1): the bench's own cluster, a redis-server and N confabd nodes
    // with [cluster] engine = "redis"; sessions spread over the nodes.
    int nodes = 1;
    std::string redis_server = "redis-server"; // binary, found on PATH
    std::string redis_aof = "always";          // always | everysec | no (appendonly off)
    bool same_node = false;                    // direct: each pair's two users on one node

    // TLS 1.3 between the bench and the started daemon (certificate made at run time).
    bool tls = false;
    bool resume = false; // with --tls: every measured connection resumes a saved session

    int threads = 1;
    int window = 64; // outstanding requests per sender
    int text_bytes = 64;
    int concurrency = 1000; // connections in handshake at once
    double timeout_s = 0;   // per-workload deadline; 0 = derived from the size

    // direct
    int pairs = 50;
    std::int64_t messages = 200000;
    double duration_s = 0; // > 0: send for this long instead of `messages`
    double rate = 0;       // > 0: total messages/s instead of as fast as the window allows

    // fanout
    int users = 10000;
    int broadcasts = 200;
    int in_flight = 1; // broadcasts outstanding at once (1: measures reach-all time cleanly)

    // idle
    std::int64_t sessions = 100000;
    double hold_s = 1; // keep the sessions this long, then check none was dropped

    // login
    int logins = 1000;
    int login_pairs = 50;
    double login_rate = 5000; // direct messages/s running during the storm (and during store)

    // store: offline messages committed to the daemon's SQLite store
    int store_senders = 20; // each to its own recipient that never logs in
    std::int64_t store_messages = 100000;
    int store_pairs = 50; // online pairs at --login-rate while the store is busy

    // hostile: attacks from 127.0.0.2.. while good users chat from 127.0.0.1
    int good_users = 100;         // pairs of sender + receiver
    double good_rate = 500;       // their messages/s in all
    int attack_conns = 5000;      // connection flood, stalled frames, connect burst (bounded by RLIMIT_NOFILE)
    int storm_conns = 50;         // wrong-password storms
    int attack_sources = 1;       // attacker source addresses 127.0.0.2 .. 127.0.0.(1 + N)
    int probe_logins = 3;         // fresh logins from 127.0.0.1 during each attack
    bool plain_probes = false;    // probes with plaintext passwords: the users file holds no hash
    bool require_targets = false; // exit status 1 when a hostile target is missed

    bool smoke = false;
    bool json = false;
    std::int64_t print_users = -1; // >= 0: write a users file for --connect targets and exit
};

// Parses argv; on error or --help prints to stderr/stdout and returns nullopt
// with `exit_code` set.
std::optional<Options> parse_options(int argc, char** argv, int& exit_code);

} // namespace confab::bench
