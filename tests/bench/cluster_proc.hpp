// --nodes N: the bench's own cluster, one redis-server and N confabd nodes with
// [cluster] engine = "redis", node ids node0..node{N-1}, sharing one users file
// (each node keeps its own temp dir for config, state and log).
#pragma once

#include "daemon_proc.hpp"
#include "options.hpp"
#include "redis_proc.hpp"

#include <memory>
#include <string>
#include <vector>

namespace confab::bench {

class Cluster {
public:
    // Throws std::runtime_error naming the node (and its log) that did not start.
    Cluster(const Options& opts, const DaemonSetup& setup);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    std::size_t size() const { return nodes_.size(); }
    Daemon& node(std::size_t i) { return *nodes_[i]; }
    RedisServer& redis() { return *redis_; }
    // Every process involved: the nodes, then redis-server.
    std::vector<int> pids() const;
    bool alive();
    std::string log_tails() const;
    // Nodes first (they release their sessions in Redis), then redis-server.
    // Returns 0 if every process stopped cleanly, else the first bad status.
    int stop(double wait_s);

private:
    void await_available(const Options& opts);

    std::string dir_;
    bool keep_dir_ = false;
    std::unique_ptr<RedisServer> redis_;
    std::vector<std::unique_ptr<Daemon>> nodes_;
};

} // namespace confab::bench
