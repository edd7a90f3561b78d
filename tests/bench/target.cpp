#include "target.hpp"

#include "cluster_proc.hpp"

#include <cerrno>
#include <csignal>

namespace confab::bench {

Servers Target::servers() const {
    if (!cluster) return make_address(host, port);
    std::vector<sockaddr_in> nodes;
    for (std::size_t i = 0; i < cluster->size(); ++i) nodes.push_back(make_address(host, cluster->node(i).port()));
    return Servers(std::move(nodes), pair_span);
}

bool Target::alive() const {
    if (cluster) return cluster->alive();
    if (daemon) return daemon->alive();
    if (pid > 0) return ::kill(pid, 0) == 0 || errno == EPERM;
    return true; // unknown: connection failures will tell
}

ProcSample Target::sample() const {
    if (!cluster) return pid > 0 ? sample_process(pid) : ProcSample{};
    ProcSample sum;
    sum.ok = true;
    for (int p : cluster->pids()) sum += sample_process(p);
    return sum;
}

std::uint64_t Target::redis_used_memory() const {
    return cluster ? cluster->redis().used_memory() : 0;
}

} // namespace confab::bench
