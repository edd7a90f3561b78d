// What a workload talks to: the daemon the bench started, --connect's, or the
// bench's own cluster (--nodes N), and how users map to its nodes.
#pragma once

#include "daemon_proc.hpp"
#include "session.hpp"

#include <cstdint>
#include <string>

namespace confab::bench {

class Cluster;

struct Target {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0; // the daemon, or a cluster's first node
    int pid = 0;            // 0: unknown, no /proc figures
    Daemon* daemon = nullptr;
    Cluster* cluster = nullptr;  // --nodes N: every node, and its redis-server
    std::uint32_t pair_span = 1; // users per node in turn (Servers): 2 keeps direct pairs on one node

    // Every node's address, users spread as pair_span says.
    Servers servers() const;
    bool alive() const;
    // CPU and RSS of every process involved: the daemon, or all nodes plus redis-server.
    ProcSample sample() const;
    // A cluster's Redis INFO used_memory; 0 without one.
    std::uint64_t redis_used_memory() const;
};

} // namespace confab::bench
