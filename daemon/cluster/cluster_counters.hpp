// What the Redis engine counts, for the metrics (confab_cluster_*). Reactor thread only.
#pragma once

#include <cstdint>

namespace confab {

struct ClusterCounters {
    std::uint64_t published = 0;            // PUBLISHes sent (to all nodes or to one)
    std::uint64_t received = 0;             // events from other nodes handed to the core
    std::uint64_t undecodable = 0;          // payloads refused by the codec
    std::uint64_t routed_not_delivered = 0; // send_to that found no node listening
    std::uint64_t nodes_down = 0;           // NodeDowns noticed
    std::uint64_t events_dropped = 0;       // heard while the replica was read, beyond what is kept
    std::uint64_t failed_writes = 0;        // store writes Redis did not take
    std::uint64_t answers_lost = 0;         // DirectAnswers not sent: Redis was unreachable
};

} // namespace confab
